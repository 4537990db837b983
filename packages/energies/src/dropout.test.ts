import { ConfigError, Rng, ShapeError, type State, setupBackend, tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ernoultSigmoid } from './activations.js';
import { Bias } from './bias.js';
import { CrossEntropyReadout, MseCost } from './costs.js';
import { DenseCoupling } from './dense-coupling.js';
import { checkDropout, drawDropoutMasks } from './dropout.js';
import { type BoundNetwork, EnergyNetwork } from './network.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

const v = (shape: number[], seed: number) => tf.variable(tf.randomNormal(shape, 0, 0.6, 'float32', seed));

/** A primitive-form MLP [inputShape → 5 → 4] with a CE readout to 3 classes. */
function tinyNet(dropout?: number[], inputShape = [6]) {
  const n0 = inputShape.reduce((a, b) => a * b, 1);
  return new EnergyNetwork({
    inputShape,
    layerShapes: [[5], [4]],
    activations: [ernoultSigmoid, ernoultSigmoid],
    terms: [new DenseCoupling(0, 1, v([n0, 5], 1)), new Bias(1, v([5], 2)), new DenseCoupling(1, 2, v([5, 4], 3)), new Bias(2, v([4], 4))],
    cost: new CrossEntropyReadout(v([4, 3], 5), v([3], 6)),
    form: 'primitive',
    dropout,
  });
}

/** Synchronous fixed point s_k ← σ(preActivation_k), `steps` steps from zero. */
function relax(bound: BoundNetwork, steps: number): State {
  let s: State = bound.net.zeroState(bound.batchSize);
  for (let t = 0; t < steps; t++) {
    const next = tf.tidy(() => {
      const all = bound.allActs(s);
      return s.map((_, i) => bound.net.activations[i].base(bound.preActivation(all, i + 1)));
    });
    tf.dispose(s);
    s = next;
  }
  return s;
}

describe('dropout rates', () => {
  const shapes = [[6], [5], [4]];
  it('are one probability in [0, 1) per layer, the input first; all zero is no dropout', () => {
    const ce = new CrossEntropyReadout(v([4, 3], 1), v([3], 2));
    expect(checkDropout([0.2, 0, 0.5], shapes, ce)).toEqual([0.2, 0, 0.5]);
    expect(checkDropout([0, 0, 0], shapes, ce)).toBeUndefined();
    expect(checkDropout(undefined, shapes, ce)).toBeUndefined();
    expect(() => checkDropout([0.2, 0.5], shapes, ce)).toThrow(
      new ConfigError('dropout must list one drop probability per layer, the input first (3 for layers 0 … 2), got [0.2,0.5]'),
    );
    expect(() => checkDropout([0, 1, 0], shapes, ce)).toThrow(new ConfigError('dropout of layer 1 must be a probability in [0, 1), got 1'));
    expect(() => checkDropout([0, '0.1', 0], shapes, ce)).toThrow(/^dropout of layer 1 must be a probability in \[0, 1\), got "0.1"$/);
    // MSE compares the output state itself with the target: its units cannot be dropped
    expect(() => checkDropout([0, 0, 0.1], shapes, new MseCost())).toThrow(/^dropout of the output layer 2 must be 0 with the mse cost, .*got 0\.1$/);
    expect(() => tinyNet([0, 0.5])).toThrow(ConfigError);
  });
});

describe('a batch bound with dropout masks', () => {
  it('relaxes to a stationary point of the masked energy E_m = Σ G(s_k)/(1 − p_k) − Φ(m ⊙ a), dropped units at σ(0)', () => {
    const net = tinyNet([0.3, 0.5, 0.25]);
    const n = 4;
    const x = tf.randomUniform([n, 6], 0, 1, 'float32', 7);
    const masks = drawDropoutMasks(net, n, new Rng(3))!;
    const gates = [0, 1, 2].map((k) => Array.from(masks.gate(k)!.dataSync()));
    expect(gates.every((g) => g.includes(0) && g.includes(1))).toBe(true);
    const bound = net.bind(x, masks);
    const s = relax(bound, 200);
    // the gated dynamics s = σ((1 − p)·∂Φ(m ⊙ a)/∂s) are the minimum of E_m: its gradient vanishes there
    const grads = tf.grads((...st: tf.Tensor[]) => tf.sum(bound.energy(st)))(s);
    const worst = Math.max(...grads.map((g) => tf.max(tf.abs(g)).dataSync()[0]));
    // measured 5e-6 (float32 σ⁻¹ in the self term); without its 1/(1 − p) weight 2.9
    expect(worst).toBeLessThan(1e-4);
    const sigma0 = ernoultSigmoid.apply(tf.scalar(0)).dataSync()[0];
    for (const k of [1, 2]) {
      const values = s[k - 1].dataSync();
      gates[k].forEach((g, i) => {
        if (g === 0) expect(values[i]).toBeCloseTo(sigma0, 6);
        else expect(Math.abs(values[i] - sigma0)).toBeGreaterThan(1e-4);
      });
    }
    tf.dispose([...s, ...grads, x]);
    bound.dispose();
  });

  it('a subset of the examples (per-example stops) keeps its rows of the masks; nothing outlives the bound network', () => {
    const net = tinyNet([0.3, 0.5, 0.25]);
    const x = tf.randomUniform([5, 6], 0, 1, 'float32', 8);
    const before = tf.memory().numTensors;
    const bound = net.bind(x, drawDropoutMasks(net, 5, new Rng(4)));
    const s = relax(bound, 3);
    const rows = [3, 0, 4];
    const part = bound.subset(rows);
    const sub = s.map((t) => tf.gather(t, rows));
    for (const k of [1, 2]) {
      const whole = tf.tidy(() => tf.gather(bound.preActivation(bound.allActs(s), k), rows));
      const own = part.preActivation(part.allActs(sub), k);
      expect(Array.from(own.dataSync())).toEqual(Array.from(whole.dataSync()));
      tf.dispose([whole, own]);
    }
    tf.dispose([...s, ...sub]);
    part.dispose();
    bound.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('masks a flat input in the input layer’s shape and refuses masks of another batch size', () => {
    const net = tinyNet([0.5, 0, 0], [2, 3]);
    const x = tf.randomUniform([4, 6], 0, 1, 'float32', 9);
    const before = tf.memory().numTensors;
    const masks = drawDropoutMasks(net, 4, new Rng(5))!;
    const m0 = Array.from(masks.gate(0)!.dataSync()).map((g) => g / 0.5);
    const bound = net.bind(x, masks);
    expect(bound.x.shape).toEqual([4, 2, 3]);
    const xs = x.dataSync();
    expect(Array.from(bound.x.dataSync())).toEqual(Array.from(xs).map((v, i) => Math.fround(v * m0[i])));
    bound.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const other = drawDropoutMasks(net, 3, new Rng(5))!;
    expect(() => net.bind(x, other)).toThrow(new ShapeError('dropout masks drawn for 3 examples, bound to a batch of 4'));
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
