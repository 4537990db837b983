import { Rng, setupBackend, tf } from '@eqprop/core';
import { convnet } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { Optimizer, type OptimizerConfig } from './optimizers.js';
import { parameterGroups } from './trainer.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

type Values = Record<string, number[]>;

interface RefSettings {
  kind: 'sgd' | 'momentum' | 'adam';
  /** The rate of each parameter (its group's). */
  lr: Record<string, number>;
  momentum?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  /** The lrScale of each step (a schedule), 1 if omitted. */
  scales?: number[];
}

/**
 * The updates written out in plain float64 JS, element by element, one step per entry of `grads`:
 * the reference for the tfjs implementation (which never runs here). Weight decay is L2 added to
 * the gradient (coupled, as PyTorch's SGD and Adam `weight_decay`), on every parameter.
 *   sgd:      θ ← θ − lr·g
 *   momentum: m ← μ·m + g;  θ ← θ − lr·m                        (heavy ball, no dampening)
 *   adam:     m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *             θ ← θ − lr·√(1−β2^t)/(1−β1^t) · m / (√v + ε)        (Kingma & Ba §2's ε̂ form, as TF/Keras)
 */
function reference(s: RefSettings, start: Values, grads: Values[]): Values {
  const { momentum = 0.9, weightDecay = 0, betas = [0.9, 0.999], eps = 1e-8 } = s;
  const p: Values = Object.fromEntries(Object.entries(start).map(([k, v]) => [k, v.slice()]));
  const m: Values = Object.fromEntries(Object.entries(start).map(([k, v]) => [k, v.map(() => 0)]));
  const v: Values = Object.fromEntries(Object.entries(start).map(([k, x]) => [k, x.map(() => 0)]));
  grads.forEach((step, i) => {
    const t = i + 1;
    const scale = s.scales?.[i] ?? 1;
    for (const name of Object.keys(step)) {
      const lr = s.lr[name] * scale;
      for (let j = 0; j < p[name].length; j++) {
        const g = step[name][j] + weightDecay * p[name][j];
        if (s.kind === 'sgd') {
          p[name][j] -= lr * g;
        } else if (s.kind === 'momentum') {
          m[name][j] = momentum * m[name][j] + g;
          p[name][j] -= lr * m[name][j];
        } else {
          const [b1, b2] = betas;
          m[name][j] = b1 * m[name][j] + (1 - b1) * g;
          v[name][j] = b2 * v[name][j] + (1 - b2) * g * g;
          p[name][j] -= ((lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t)) * (m[name][j] / (Math.sqrt(v[name][j]) + eps));
        }
      }
    }
  });
  return p;
}

/** Every element within `tol` of the reference, relative to its size (measured: ≤ 1.5e-7). */
function expectClose(got: Record<string, tf.Variable>, want: Values, tol = 1e-6) {
  for (const [name, values] of Object.entries(want)) {
    const g = got[name].dataSync();
    values.forEach((w, j) => expect(Math.abs(g[j] - w), `${name}[${j}]: got ${g[j]}, expected ${w}`).toBeLessThanOrEqual(tol * Math.abs(w)));
  }
}

const variables = (values: Values, shapes: Record<string, number[]>) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, tf.variable(tf.tensor(v, shapes[k]))]));
const tensors = (values: Values, shapes: Record<string, number[]>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, tf.tensor(v, shapes[k])]));

// a 2×2 weight (group 1) and a bias (group 2); values away from 0 so that relative errors mean something
const shapes = { w: [2, 2], b: [2] };
const start: Values = { w: [0.5, -0.3, 0.2, 1.0], b: [0.4, -0.7] };
const groups = { w: 1, b: 2 };
// gradients of mixed sizes, some as small as ε: Adam's ε then matters
const grads: Values[] = [
  { w: [0.1, -0.2, 0.05, 0.3], b: [0.002, -0.01] },
  { w: [0.2, 0.1, -0.1, 0.0], b: [-0.003, 0.02] },
  { w: [-0.3, 0.05, 0.2, 0.1], b: [0.001, 0.004] },
  { w: [0.05, -0.4, 0.3, -0.2], b: [0.01, -0.002] },
];
// the cosine schedule of `eqprop train --lr-schedule cosine` over 4 epochs: 0.5·(1 + cos(π·e/4))
const cosine = [0, 1, 2, 3].map((e) => 0.5 * (1 + Math.cos((Math.PI * e) / 4)));

function run(config: OptimizerConfig, scales?: number[]) {
  const params = variables(start, shapes);
  const opt = new Optimizer(config, params, groups);
  grads.forEach((g, i) => {
    const t = tensors(g, shapes);
    opt.step(t, scales?.[i]);
    Object.values(t).forEach((x) => x.dispose());
  });
  return { params, opt };
}

describe('optimizers: a few steps against the update written out by hand (float64)', () => {
  const cases: { name: string; config: OptimizerConfig; ref: Omit<RefSettings, 'lr' | 'kind'> }[] = [
    { name: 'sgd', config: { kind: 'sgd', lrs: [0.1, 0.05] }, ref: {} },
    {
      name: 'sgd with weight decay (biases too) under the cosine schedule',
      config: { kind: 'sgd', lrs: [0.1, 0.05], weightDecay: 0.05 },
      ref: { weightDecay: 0.05, scales: cosine },
    },
    {
      name: 'momentum 0.7 with weight decay',
      config: { kind: 'momentum', lrs: [0.1, 0.05], momentum: 0.7, weightDecay: 0.05 },
      ref: { momentum: 0.7, weightDecay: 0.05 },
    },
    { name: 'momentum, default μ = 0.9', config: { kind: 'momentum', lrs: [0.1, 0.05] }, ref: { momentum: 0.9 } },
    { name: 'adam, defaults', config: { kind: 'adam', lrs: [0.01, 0.02] }, ref: {} },
    {
      name: 'adam with β1 = 0.5, β2 = 0.9, ε = 1e-3, weight decay, under the cosine schedule',
      config: { kind: 'adam', lrs: [0.01, 0.02], adamBetas: [0.5, 0.9], adamEps: 1e-3, weightDecay: 0.05 },
      ref: { betas: [0.5, 0.9], eps: 1e-3, weightDecay: 0.05, scales: cosine },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { params, opt } = run(c.config, c.ref.scales);
      const [lw, lb] = c.config.lrs;
      expectClose(params, reference({ kind: c.config.kind, lr: { w: lw, b: lb }, ...c.ref }, start, grads));
      opt.dispose();
      Object.values(params).forEach((p) => p.dispose());
    });
  }

  it('adam’s ε is added to √v before the bias correction of the step (ε̂), not to √v̂ as in PyTorch', () => {
    // pins the convention: with ε = 1e-3 and gradients ~1e-3 the two differ by far more than the tolerance
    const config: OptimizerConfig = { kind: 'adam', lrs: [0.01, 0.02], adamBetas: [0.5, 0.9], adamEps: 1e-3 };
    const { params, opt } = run(config);
    expectClose(params, reference({ kind: 'adam', lr: { w: 0.01, b: 0.02 }, betas: [0.5, 0.9], eps: 1e-3 }, start, grads));
    // PyTorch's θ ← θ − lr·m̂/(√v̂ + ε), for the bias only
    const m = [0, 0];
    const v = [0, 0];
    const pytorch = start.b.slice();
    grads.forEach((g, i) => {
      for (let j = 0; j < 2; j++) {
        m[j] = 0.5 * m[j] + 0.5 * g.b[j];
        v[j] = 0.9 * v[j] + 0.1 * g.b[j] ** 2;
        pytorch[j] -= (0.02 * (m[j] / (1 - 0.5 ** (i + 1)))) / (Math.sqrt(v[j] / (1 - 0.9 ** (i + 1))) + 1e-3);
      }
    });
    expect(Math.abs(params.b.dataSync()[0] - pytorch[0])).toBeGreaterThan(1e-3); // measured 5.1e-3
    opt.dispose();
    Object.values(params).forEach((p) => p.dispose());
  });
});

describe('optimizers: per-layer rates of a convnet', () => {
  it('groups parameters by the layer they feed (readout last) and moves each by its group’s rate', () => {
    // conv, conv, a dense layer, a CE readout: four groups
    const net = convnet(
      { kind: 'conv', inputShape: [6, 6, 1], channels: [2, 3], kernels: [3, 2], pools: ['max', 'none'], dense: [4, 3], activation: 'half-clip', cost: 'ce' },
      new Rng(1),
    );
    const groupOf = parameterGroups(net);
    expect(groupOf).toEqual({ K0_1: 1, b1: 1, K1_2: 2, b2: 2, W2_3: 3, b3: 3, Wout: 4, bout: 4 });
    const lrs = [0.4, 0.3, 0.2, 0.1];
    const rng = new Rng(2);
    const start: Values = Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, Array.from(p.dataSync())]));
    const steps: Values[] = [0, 1].map(() => Object.fromEntries(Object.entries(net.params).map(([k, p]) => [k, Array.from(rng.uniformArray(p.size, -1, 1))])));
    const opt = new Optimizer({ kind: 'momentum', lrs, momentum: 0.8, weightDecay: 0.01 }, net.params, groupOf);
    for (const g of steps) {
      const t = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, tf.tensor(v, net.params[k].shape)]));
      opt.step(t);
      Object.values(t).forEach((x) => x.dispose());
    }
    // the rates by hand: conv 1, conv 2, dense, readout
    const lr = { K0_1: 0.4, b1: 0.4, K1_2: 0.3, b2: 0.3, W2_3: 0.2, b3: 0.2, Wout: 0.1, bout: 0.1 };
    const want = reference({ kind: 'momentum', lr, momentum: 0.8, weightDecay: 0.01 }, start, steps);
    // tolerance on the change: float32 parameters near 0 carry no relative precision of their own
    for (const [name, p] of Object.entries(net.params)) {
      const got = Array.from(p.dataSync(), (x, j) => x - start[name][j]);
      const expected = want[name].map((x, j) => x - start[name][j]);
      const err = Math.hypot(...got.map((x, j) => x - expected[j])) / Math.hypot(...expected);
      expect(err, name).toBeLessThan(2e-6); // measured ≤ 1.5e-7
    }
    opt.dispose();
  });
});

describe('optimizers: saved state', () => {
  it('getState → JSON → setState on a fresh optimizer continues the same sequence (step count and both Adam slots)', () => {
    const config: OptimizerConfig = { kind: 'adam', lrs: [0.01, 0.02], adamBetas: [0.5, 0.9], adamEps: 1e-3, weightDecay: 0.05 };
    const a = variables(start, shapes);
    const optA = new Optimizer(config, a, groups);
    const step = (opt: Optimizer, g: Values) => {
      const t = tensors(g, shapes);
      opt.step(t);
      Object.values(t).forEach((x) => x.dispose());
    };
    step(optA, grads[0]);
    step(optA, grads[1]);
    const saved = JSON.parse(JSON.stringify(optA.getState()));
    expect(saved.t).toBe(2);
    // a new run: parameters as they are now, optimizer state from the file
    const b = variables(Object.fromEntries(Object.entries(a).map(([k, v]) => [k, Array.from(v.dataSync())])), shapes);
    const optB = new Optimizer(config, b, groups);
    optB.setState(saved);
    for (const g of grads.slice(2)) {
      step(optA, g);
      step(optB, g);
    }
    const want = reference({ kind: 'adam', lr: { w: 0.01, b: 0.02 }, betas: [0.5, 0.9], eps: 1e-3, weightDecay: 0.05 }, start, grads);
    expectClose(a, want);
    expectClose(b, want);
    [optA, optB].forEach((o) => o.dispose());
    [...Object.values(a), ...Object.values(b)].forEach((p) => p.dispose());
  });

  it('refuses saved state of the wrong shape, and leaves itself as it was', () => {
    const p = variables(start, shapes);
    const opt = new Optimizer({ kind: 'momentum', lrs: [0.1, 0.05] }, p, groups);
    const state = opt.getState();
    expect(() => opt.setState({ ...state, t: -1 })).toThrow(/step count t ≥ 0/);
    expect(() => opt.setState({ t: 1, slots: { ...state.slots, b: [] } })).toThrow(/saved optimizer state of "b" needs 1 slot\(s\) for momentum/);
    expect(() => opt.setState({ t: 1, slots: { ...state.slots, w: state.slots.b } })).toThrow(/slot 0 of "w" is not float32 of shape \[2,2\]/);
    expect(opt.getState().t).toBe(0);
    opt.dispose();
    Object.values(p).forEach((x) => x.dispose());
  });
});

describe('optimizers: configuration', () => {
  it('uses one rate per layer group and checks their number', () => {
    const a = tf.variable(tf.tensor1d([1]));
    const b = tf.variable(tf.tensor1d([1]));
    const opt = new Optimizer({ kind: 'sgd', lrs: [0.1, 0.01] }, { a, b }, { a: 1, b: 2 });
    opt.step({ a: tf.tensor1d([1]), b: tf.tensor1d([1]) });
    expect(a.dataSync()[0]).toBeCloseTo(0.9, 6);
    expect(b.dataSync()[0]).toBeCloseTo(0.99, 6);
    expect(() => new Optimizer({ kind: 'sgd', lrs: [0.1, 0.1, 0.1] }, { a, b }, { a: 1, b: 2 })).toThrow(/got 3 learning rates for 2 layers/);
    expect(() => new Optimizer({ kind: 'sgd', lrs: [-1] }, { a }, { a: 1 })).toThrow(/learning rates must be ≥ 0, got -1/);
  });
});
