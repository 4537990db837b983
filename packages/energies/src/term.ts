import { type Grads, type Params, tf } from '@eqprop/core';

/**
 * Per-batch memo: tensors that stay fixed while a batch relaxes (transposed weights, the
 * projection of the clamped input) are computed once and disposed together.
 */
export class TermCache {
  private items = new Map<string, tf.Tensor>();
  private latestOf = new Map<string, { id: number; value: tf.Tensor[] }>();
  /** @param parent the cache of the batch this one's examples were taken from (BoundNetwork.subset): shared() entries live there. */
  constructor(private readonly parent?: TermCache) {}
  get(key: string, make: () => tf.Tensor): tf.Tensor {
    let t = this.items.get(key);
    if (!t) {
      // kept: callers are usually inside tf.tidy, and the entry must outlive that scope
      t = tf.keep(tf.tidy(make));
      this.items.set(key, t);
    }
    return t;
  }
  /**
   * Tensors that depend on the parameters alone (a scaled, flipped or transposed weight): made
   * once and shared with the subsets of the batch, which relax with the same parameters (a
   * per-example stop makes a subset each time examples settle: remaking them each time cost more
   * than the steps it saved).
   */
  shared(key: string, make: () => tf.Tensor): tf.Tensor {
    return this.parent ? this.parent.shared(key, make) : this.get(`shared:${key}`, make);
  }
  /**
   * Tensors that depend on one changing tensor `of` (say, the convolution of a layer's current
   * state, which both of the layers it couples need): made once per value of `of` and kept until
   * `of` changes or the cache is disposed. Callers must not dispose what it returns.
   */
  latest(key: string, of: tf.Tensor, make: () => tf.Tensor[]): tf.Tensor[] {
    const hit = this.latestOf.get(key);
    if (hit && hit.id === of.id) return hit.value;
    hit?.value.forEach((t) => t.dispose());
    const value = tf.tidy(make).map((t) => tf.keep(t));
    this.latestOf.set(key, { id: of.id, value });
    return value;
  }
  dispose(): void {
    for (const t of this.items.values()) t.dispose();
    this.items.clear();
    for (const { value } of this.latestOf.values()) value.forEach((t) => t.dispose());
    this.latestOf.clear();
  }
}

/**
 * What solvers and estimators need from one term of a network: its fields (the input it sends to
 * each layer it touches) and its contribution to the parameter update. Layer 0 is the clamped
 * input, layers 1..L are free; `acts[k]` is the activity of layer k, batch-first.
 *
 * An energy term (`Term`) is one of these with an energy E_term: its field is −∂E_term/∂a_k and
 * its update ∂E_term/∂θ. A vector-field term (Laborieux et al. 2021's VF networks) has fields
 * and an update but no energy: each layer k has its own primitive Φ_k, the field on k is
 * ∂Φ_k/∂a_k, and the update of a parameter of Φ_k is −∂Φ_k/∂θ with layer k's activity taken at
 * the phase and its neighbours at the `anchor` (the free equilibrium).
 *
 * A term needs its fields, `isStaticFor` and `paramGrads` (and `energy` for a `Term`): the network
 * scales fields by the activation's gain itself. Two members are optional: `shapeMismatch`, and
 * `paramGradsDiff`, for precision rather than speed.
 */
export interface FieldTerm {
  readonly name: string;
  /** Layers the term couples (0 = clamped input). */
  readonly layers: readonly number[];
  /** Trainable parameters owned by this term. */
  readonly params: Params;
  /**
   * The input this term sends to layer k: −∂E_term/∂acts[k] (an energy term), ∂Φ_k/∂acts[k] (a
   * vector field), of layer k's full shape [batch, …].
   */
  field(acts: readonly tf.Tensor[], k: number, cache: TermCache): tf.Tensor;
  /**
   * What of this term does not fit the layers' per-example shapes (`shapes[0]` is the input's), in
   * words naming the layer and both shapes; undefined when it fits. Optional: EnergyNetwork probes
   * a term without it once, on zero activities, when it is built (probeTermShapes).
   */
  shapeMismatch?(shapes: readonly (readonly number[])[]): string | undefined;
  /** True when the field on layer k depends only on parameters and the clamped input. */
  isStaticFor(k: number): boolean;
  /**
   * The term's part of the update at activities `acts`, averaged over the batch: ∂E_term/∂θ for an
   * energy term (which ignores `anchor`); for a vector field −∂Φ_k/∂θ with layer k at `acts` and
   * its neighbours at `anchor` (default: `acts` itself). Estimators take differences of it.
   */
  paramGrads(acts: readonly tf.Tensor[], anchor?: readonly tf.Tensor[]): Grads;
  /**
   * (paramGrads(a, anchor) − paramGrads(b, anchor)) · scale, the EP difference, `anchor` defaulting
   * to `b`, computed with the phases subtracted before the products (or stacked into one): two
   * paramGrads calls subtract two near-equal float32 sums, which loses the digits a small β or a
   * damped step leaves (EP against BPTT with the nudge inside σ: 0.051 rmse instead of < 0.02; two
   * data-parallel replicas against one: 6.5e-3 instead of < 1e-4). Optional: the network subtracts
   * two paramGrads calls for a term without it.
   */
  paramGradsDiff?(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number, anchor?: readonly tf.Tensor[]): Grads;
}

/** One term of the energy E: a FieldTerm whose fields and update derive from an energy. */
export interface Term extends FieldTerm {
  /** Energy per example, shape [batch]. */
  energy(acts: readonly tf.Tensor[]): tf.Tensor;
}

/** Whether a term has an energy (a vector-field term has none). */
export function hasEnergy(term: FieldTerm): term is Term {
  return typeof (term as Partial<Term>).energy === 'function';
}
