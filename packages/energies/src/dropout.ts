import { ConfigError, type Rng, ShapeError, takeRows, tf } from '@eqprop/core';
import type { Cost } from './costs.js';
import type { TermCache } from './term.js';

/**
 * Dropout inside the energy, as in Laborieux's `dropout` branch of the reference code (P_CNN:
 * `create_mask`, `Phi`, `forward`). Per batch, each layer k with drop probability p_k gets one mask
 * m_k of Bernoulli(1 − p_k)/(1 − p_k) per unit and per example, drawn before the free phase and
 * used by every phase and by the parameter update of that batch. In Φ every activity is masked,
 * the input's included, on both sides of every coupling and in the biases (−E = Σ (m⊙a)ᵀW(m⊙a) +
 * bᵀ(m⊙a)), and a readout cost reads the masked top layer. A layer's update multiplies its field
 * by 1 − p_k, s_k = σ((1 − p_k)·∂Φ/∂s_k): its own mask then acts as a 0/1 gate g_k = (1 − p_k)·m_k
 * (a dropped unit gets σ(0) and sends nothing), while the 1/(1 − p) of its neighbours keeps a kept
 * unit's input at its expected size. Those dynamics minimise E_m = Σ_k G(s_k)/(1 − p_k) − Φ(m ⊙ a)
 * (the self term weighted by 1/(1 − p_k)), so EP's finite difference is taken between equilibria
 * of one masked energy. Evaluation binds no masks: the plain network. (The reference also scales
 * fields by 1 − p_k at evaluation, its masks all ones, and scales its softmax model's top layer by
 * the rate of the layer below it, `dropouts[-2]`; neither is reproduced: see the README.)
 */

/**
 * `rates` checked against the network's layers (`shapes[0]` is the input's) and its cost: a copy,
 * or undefined when there are none or every rate is 0 (nothing is drawn: the run without dropout).
 */
export function checkDropout(rates: unknown, shapes: readonly (readonly number[])[], cost: Cost): readonly number[] | undefined {
  if (rates === undefined) return undefined;
  const L = shapes.length - 1;
  if (!Array.isArray(rates) || rates.length !== L + 1) {
    throw new ConfigError(`dropout must list one drop probability per layer, the input first (${L + 1} for layers 0 … ${L}), got ${JSON.stringify(rates)}`);
  }
  rates.forEach((p, k) => {
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new ConfigError(`dropout of layer ${k} must be a probability in [0, 1), got ${JSON.stringify(p)}`);
  });
  // the reference masks what the cost reads only for its readout (weights of its own); a cost
  // without weights (MSE) compares the output's state itself with the target
  if (rates[L] > 0 && Object.keys(cost.params).length === 0) {
    throw new ConfigError(
      `dropout of the output layer ${L} must be 0 with the ${cost.name} cost, which compares that layer's state with the target (a readout cost, ce, reads it through weights and can drop it), got ${rates[L]}`,
    );
  }
  return rates.some((p) => p > 0) ? rates.slice() : undefined;
}

/** What drawing masks needs of a network (an EnergyNetwork). */
export interface DropoutLayers {
  readonly inputShape: readonly number[];
  readonly layerShapes: readonly (readonly number[])[];
  /** Drop probability of each layer, the input first (EnergyNetwork.dropout). */
  readonly dropout?: readonly number[];
}

/**
 * The masks of one batch of `n` examples, drawn from `rng` (undefined when the network has no
 * dropout: nothing is drawn). Bind them, `net.bind(x, masks)`: the bound network disposes them.
 */
export function drawDropoutMasks(net: DropoutLayers, n: number, rng: Rng): DropoutMasks | undefined {
  const rates = net.dropout;
  if (!rates) return undefined;
  const gates = [net.inputShape, ...net.layerShapes].map((shape, k) => {
    const keep = 1 - rates[k];
    if (keep === 1) return null;
    const values = new Float32Array(n * shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = rng.next() < keep ? 1 : 0;
    return tf.tensor(values, [n, ...shape]);
  });
  return new DropoutMasks(
    rates.map((p) => 1 - p),
    gates,
    n,
  );
}

/**
 * One batch's masks: per layer the gate g_k ∈ {0, 1} and the mask m_k = g_k/(1 − p_k) (null for a
 * layer without dropout). Owned by the BoundNetwork they are bound to.
 */
export class DropoutMasks {
  private readonly masks: (tf.Tensor | null)[];

  constructor(
    /** 1 − p_k of each layer, the input first. */
    readonly keep: readonly number[],
    private readonly gates: (tf.Tensor | null)[],
    readonly batchSize: number,
  ) {
    this.masks = gates.map((g, k) => g && tf.mul(g, 1 / keep[k]));
  }

  /** The gate g_k of layer k (0 = dropped), [batch, …shape]; null when the layer keeps every unit. The masks' own: do not dispose. */
  gate(k: number): tf.Tensor | null {
    return this.gates[k];
  }

  /** The batch's input as the terms see it, m_0 ⊙ x in x's shape (x itself when the input keeps every unit). */
  maskInput(x: tf.Tensor): tf.Tensor {
    if (x.shape[0] !== this.batchSize) throw new ShapeError(`dropout masks drawn for ${this.batchSize} examples, bound to a batch of ${x.shape[0]}`);
    const m = this.masks[0];
    return m ? tf.tidy(() => tf.mul(x, m.reshape(x.shape))) : x;
  }

  /**
   * `[x, a_1 … a_L]` as the terms see them: m_k ⊙ a_k on every free layer with a mask (the input
   * was masked when bound). With `cache` each activity is masked once per value, shared by the
   * fields of its neighbours (TermCache.latest); without, the products are the caller's (tf.tidy).
   */
  acts(all: readonly tf.Tensor[], cache?: TermCache): tf.Tensor[] {
    return all.map((a, k) => {
      const m = this.masks[k];
      if (k === 0 || !m) return a;
      return cache ? cache.latest(`dropout:${k}`, a, () => [tf.mul(a, m)])[0] : tf.mul(a, m);
    });
  }

  /** m_k ⊙ a of one layer (a itself without a mask). */
  act(k: number, a: tf.Tensor): tf.Tensor {
    const m = this.masks[k];
    return m ? tf.mul(a, m) : a;
  }

  /** g_k ⊙ f − shift: layer k's field (already scaled by its activation's gain) through its own gate, minus gain·centre. */
  gated(k: number, f: tf.Tensor, shift: number): tf.Tensor {
    const g = this.gates[k];
    const through = g ? tf.mul(f, g) : f;
    return shift === 0 ? through : tf.sub(through, shift);
  }

  /** 1/(1 − p_k): the weight of layer k's self term in the masked energy E_m. */
  selfWeight(k: number): number {
    return 1 / this.keep[k];
  }

  /** The masks of some examples (`rows`, in that order), for BoundNetwork.subset. */
  subset(rows: readonly number[]): DropoutMasks {
    return new DropoutMasks(
      this.keep,
      this.gates.map((g) => g && takeRows(g, rows)),
      rows.length,
    );
  }

  dispose(): void {
    for (const t of [...this.gates, ...this.masks]) t?.dispose();
  }
}
