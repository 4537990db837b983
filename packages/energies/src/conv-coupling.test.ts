import { ConfigError, Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardSigmoid } from './activations.js';
import { Bias } from './bias.js';
import { ConvCoupling } from './conv-coupling.js';
import { conv2dBackpropInput, convOutputSize, flipKernel, kernelRow } from './conv-ops.js';
import { MseCost } from './costs.js';
import { DenseCoupling } from './dense-coupling.js';
import { EnergyNetwork } from './network.js';
import { POOL_KINDS, type Pooling } from './pooling.js';
import { TermCache } from './term.js';
import { randomActs, relError } from './test-utils.js';

// The closed forms run on wasm (every op they use must exist there); the reference is tf.grad of
// Φ written with plain tf ops on the cpu backend: wasm lacks Conv2DBackpropFilter and its
// MaxPoolGrad routes wrongly in windows of values ≤ 0.
beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  await setupBackend('wasm');
});

type Arr = { shape: number[]; data: Float32Array };
const arr = (t: tf.Tensor): Arr => ({ shape: t.shape.slice(), data: t.dataSync() as Float32Array });
const ten = (a: Arr) => tf.tensor(a.data, a.shape);

function random(rng: Rng, shape: number[], lo = -1, hi = 1): Arr {
  return {
    shape,
    data: rng.uniformArray(
      shape.reduce((p, q) => p * q, 1),
      lo,
      hi,
    ),
  };
}

interface Case {
  title: string;
  lower: number[];
  kernel: number[];
  stride?: number;
  padding?: number;
  pool?: Pooling;
  /** rows of the lower layer set to 0: all-zero windows make ties in the max-pool */
  zeroRows?: number;
  /** whether the lower field's transposed convolution is done row by row (transposeByRows) */
  byRows: boolean;
}

const CASES: Case[] = [
  { title: 'max-pool 2, no padding', lower: [6, 6, 2], kernel: [3, 3, 2, 3], pool: { kind: 'max', size: 2 }, byRows: true },
  { title: 'max-pool 2 with ties (blank rows)', lower: [8, 8, 2], kernel: [3, 3, 2, 3], pool: { kind: 'max', size: 2 }, zeroRows: 5, byRows: true },
  { title: 'max-pool 2, padding 1 (Laborieux CIFAR)', lower: [4, 4, 3], kernel: [3, 3, 3, 4], padding: 1, pool: { kind: 'max', size: 2 }, byRows: false },
  {
    title: 'max-pool 2, 5×5, padding 1: rows cut at both ends',
    lower: [8, 8, 2],
    kernel: [5, 5, 2, 3],
    padding: 1,
    pool: { kind: 'max', size: 2 },
    byRows: true,
  },
  { title: 'avg-pool 3, padding 1', lower: [6, 6, 2], kernel: [3, 3, 2, 3], padding: 1, pool: { kind: 'avg', size: 3 }, byRows: false },
  { title: 'no pooling, 5×5 kernel', lower: [7, 7, 1], kernel: [5, 5, 1, 2], byRows: true },
  { title: 'no pooling, 4×3 kernel on a 9×6 layer', lower: [9, 6, 2], kernel: [4, 3, 2, 3], byRows: true },
  { title: 'stride 2, padding 1, no pooling', lower: [7, 7, 2], kernel: [3, 3, 2, 4], stride: 2, padding: 1, byRows: false },
  { title: 'stride 2 then max-pool 2', lower: [9, 9, 1], kernel: [3, 3, 1, 2], stride: 2, pool: { kind: 'max', size: 2 }, byRows: false },
  { title: 'softmax-pool 2 (temperature 1)', lower: [6, 6, 2], kernel: [3, 3, 2, 3], pool: { kind: 'softmax', size: 2 }, byRows: true },
  {
    title: 'softmax-pool 3, temperature 0.25, padding 1',
    lower: [6, 6, 2],
    kernel: [3, 3, 2, 3],
    padding: 1,
    pool: { kind: 'softmax', size: 3, temperature: 0.25 },
    byRows: false,
  },
];

/** Φ = Σ a_up · P(conv(a_low, K)) with plain tf ops: the reference tf.grad differentiates. */
function phi(c: Case, low: tf.Tensor, up: tf.Tensor, K: tf.Tensor): tf.Scalar {
  const pad = c.padding ? c.padding : 'valid';
  let y: tf.Tensor4D = tf.conv2d(low as tf.Tensor4D, K as tf.Tensor4D, c.stride ?? 1, pad);
  if (c.pool?.kind === 'max') y = tf.maxPool(y, c.pool.size, c.pool.size, 'valid');
  if (c.pool?.kind === 'avg') y = tf.avgPool(y, c.pool.size, c.pool.size, 'valid');
  if (c.pool?.kind === 'softmax') {
    // energy-based-learning's conv_soft_pool: avg(y·e^{y/τ}) / avg(e^{y/τ}) over each window
    const { size, temperature = 1 } = c.pool;
    const e = tf.exp(tf.div(y, temperature));
    y = tf.div(tf.avgPool(tf.mul(y, e) as tf.Tensor4D, size, size, 'valid'), tf.avgPool(e as tf.Tensor4D, size, size, 'valid'));
  }
  return tf.sum(tf.mul(y, up));
}

describe('conv coupling: closed forms on wasm equal tf.grad of Φ', () => {
  CASES.forEach((c, i) => {
    it(c.title, async () => {
      const rng = new Rng(100 + i);
      const batch = 3;
      const low = random(rng, [batch, ...c.lower]);
      if (c.zeroRows) {
        const per = c.lower.reduce((p, q) => p * q, 1);
        const row = c.lower[1] * c.lower[2];
        for (let b = 0; b < batch; b++) low.data.fill(0, b * per, b * per + c.zeroRows * row);
      }
      const K = random(rng, c.kernel, -0.5, 0.5);
      const low2 = random(rng, [batch, ...c.lower]);

      // closed forms, wasm
      await setupBackend('wasm');
      const term = new ConvCoupling(1, 2, tf.variable(ten(K)), { inputShape: c.lower, stride: c.stride, padding: c.padding, pool: c.pool });
      expect(term.transposesByRows).toBe(c.byRows);
      const up = random(rng, [batch, ...term.outputShape], 0, 1);
      const up2 = random(rng, [batch, ...term.outputShape], 0, 1);
      const before = tf.memory().numTensors;
      const cache = new TermCache();
      const acts = [tf.zeros([batch, 1]), ten(low), ten(up)];
      const acts2 = [acts[0], ten(low2), ten(up2)];
      const got = tf.tidy(() => ({
        energy: arr(term.energy(acts)),
        fieldUp: arr(term.field(acts, 2, cache)),
        fieldLow: arr(term.field(acts, 1, cache)),
        // a second call with the same state reuses the cached convolution: same values
        fieldLowAgain: arr(term.field(acts, 1, cache)),
        grad: arr(term.paramGrads(acts)[term.name]),
        grad2: arr(term.paramGrads(acts2)[term.name]),
        diff: arr(term.paramGradsDiff(acts, acts2, 2.5)[term.name]),
      }));
      cache.dispose();
      acts.concat(acts2.slice(1)).forEach((t) => t.dispose());
      expect(tf.memory().numTensors).toBe(before);
      expect(got.fieldUp.shape).toEqual([batch, ...term.outputShape]);
      expect(got.fieldLow.shape).toEqual([batch, ...c.lower]);
      expect(got.grad.shape).toEqual(c.kernel);

      // reference, cpu
      await setupBackend('cpu');
      tf.tidy(() => {
        const [l, u, k] = [ten(low), ten(up), ten(K)];
        const rel = (a: Arr, b: tf.Tensor) => relError(ten(a), b);
        const refUp = tf.grad((a: tf.Tensor) => phi(c, l, a, k))(u);
        const refLow = tf.grad((a: tf.Tensor) => phi(c, a, u, k))(l);
        const refK = tf.grad((w: tf.Tensor) => tf.div(tf.neg(phi(c, l, u, w)), batch))(k);
        const refK2 = tf.grad((w: tf.Tensor) => tf.div(tf.neg(phi(c, ten(low2), ten(up2), w)), batch))(k);
        expect(rel(got.fieldUp, refUp)).toBeLessThan(1e-4);
        expect(rel(got.fieldLow, refLow)).toBeLessThan(1e-4);
        expect(rel(got.fieldLowAgain, refLow)).toBeLessThan(1e-4);
        expect(rel(got.grad, refK)).toBeLessThan(1e-4);
        expect(rel(got.grad2, refK2)).toBeLessThan(1e-4);
        expect(rel(got.diff, tf.mul(tf.sub(refK, refK2), 2.5))).toBeLessThan(1e-4);
        // and the energy itself: E = −Φ per example
        const e = tf.neg(tf.stack(Array.from({ length: batch }, (_, b) => phi(c, l.slice(b, 1), u.slice(b, 1), k))));
        expect(rel(got.energy, e)).toBeLessThan(1e-4);
      });
      await setupBackend('wasm');
    });
  });

  it('clamped input below: the upper field is static and the EP difference takes one kernel gradient', async () => {
    const rng = new Rng(7);
    const c: Case = { title: '', lower: [8, 8, 1], kernel: [5, 5, 1, 2], pool: { kind: 'max', size: 2 }, byRows: true };
    const x = random(rng, [2, 8, 8, 1], 0, 1);
    const K = random(rng, c.kernel, -0.5, 0.5);
    const term = new ConvCoupling(0, 1, tf.variable(ten(K)), { inputShape: c.lower, pool: c.pool });
    expect(term.isStaticFor(1)).toBe(true);
    expect(term.isStaticFor(0)).toBe(false);
    const [ua, ub] = [random(rng, [2, 2, 2, 2], 0, 1), random(rng, [2, 2, 2, 2], 0, 1)];
    const got = tf.tidy(() => {
      const xt = ten(x);
      const a = [xt, ten(ua)];
      const b = [xt, ten(ub)];
      return { diff: arr(term.paramGradsDiff(a, b, -1.5)[term.name]), ga: arr(term.paramGrads(a)[term.name]), gb: arr(term.paramGrads(b)[term.name]) };
    });
    tf.tidy(() => {
      const expected = tf.mul(tf.sub(ten(got.ga), ten(got.gb)), -1.5);
      expect(relError(ten(got.diff), expected)).toBeLessThan(1e-4);
    });
  });
});

describe('the transposed convolution row by row', () => {
  it('equals the padded convolution for every padding of 3×3 and 5×5 kernels, on non-square layers', () => {
    const rng = new Rng(21);
    for (const [kh, kw] of [
      [3, 3],
      [5, 5],
      [5, 3],
    ]) {
      for (let p = 0; p < Math.min(kh, kw); p++) {
        for (const batch of [1, 3]) {
          const lower = [9, 7, 2];
          const g = { stride: 1, padding: p };
          const [oh, ow] = [convOutputSize(lower[0], kh, g), convOutputSize(lower[1], kw, g)];
          tf.tidy(() => {
            const K = ten(random(rng, [kh, kw, 2, 3]));
            const dy = ten(random(rng, [batch, oh, ow, 3]));
            const flipped = flipKernel(K);
            const rows = Array.from({ length: kh }, (_, r) => kernelRow(flipped, r));
            const padded = conv2dBackpropInput(dy, K, flipped, lower, g);
            const byRows = conv2dBackpropInput(dy, K, flipped, lower, g, rows);
            expect(byRows.shape).toEqual([batch, ...lower]);
            expect(relError(byRows, padded), `kernel ${kh}×${kw}, padding ${p}, batch ${batch}`).toBeLessThan(1e-6);
          });
        }
      }
    }
  });

  it('a kernel row that reaches no output row (padding wider than the convolution output) adds nothing', () => {
    const rng = new Rng(22);
    const lower = [4, 4, 2];
    const g = { stride: 1, padding: 3 };
    expect(convOutputSize(4, 9, g)).toBe(2);
    tf.tidy(() => {
      const K = ten(random(rng, [9, 9, 2, 3]));
      const dy = ten(random(rng, [2, 2, 2, 3]));
      const flipped = flipKernel(K);
      const rows = Array.from({ length: 9 }, (_, r) => kernelRow(flipped, r));
      expect(relError(conv2dBackpropInput(dy, K, flipped, lower, g, rows), conv2dBackpropInput(dy, K, flipped, lower, g))).toBeLessThan(1e-6);
    });
  });
});

describe('per-channel bias of a conv layer', () => {
  it('energy, field and ∂E/∂b broadcast over positions (tf.grad on cpu)', async () => {
    await setupBackend('cpu');
    const rng = new Rng(11);
    const b = tf.variable(ten(random(rng, [3])));
    const term = new Bias(1, b, 'b1', [4, 4, 3]);
    const a = ten(random(rng, [2, 4, 4, 3], 0, 1));
    const acts = [tf.zeros([2, 1]), a];
    const ref = (v: tf.Tensor) => tf.neg(tf.sum(tf.mul(a, v)));
    expect(relError(term.energy(acts), tf.neg(tf.sum(tf.mul(a, b), [1, 2, 3])))).toBeLessThan(1e-5);
    expect(term.field(acts).shape).toEqual([2, 4, 4, 3]);
    expect(relError(term.field(acts), tf.neg(tf.grad((x: tf.Tensor) => tf.sum(term.energy([acts[0], x])))(a)))).toBeLessThan(1e-5);
    expect(relError(term.paramGrads(acts).b1, tf.div(tf.grad(ref)(b), 2))).toBeLessThan(1e-5);
    const other = ten(random(rng, [2, 4, 4, 3], 0, 1));
    const diff = term.paramGradsDiff(acts, [acts[0], other], 3)[term.name];
    expect(relError(diff, tf.mul(tf.sub(term.paramGrads(acts).b1, term.paramGrads([acts[0], other]).b1), 3))).toBeLessThan(1e-5);
    expect(() => new Bias(1, b, 'b1', [4, 4, 5])).toThrow(/b1: bias of shape \[3\] does not match the trailing axes of layer shape \[4,4,5\]/);
    await setupBackend('wasm');
  });
});

describe('a conv network on wasm', () => {
  function build(rng: Rng) {
    const v = (shape: number[]) =>
      tf.variable(
        tf.tensor(
          rng.uniformArray(
            shape.reduce((p, q) => p * q, 1),
            -0.5,
            0.5,
          ),
          shape,
        ),
      );
    const c1 = new ConvCoupling(0, 1, v([3, 3, 1, 2]), { inputShape: [8, 8, 1], pool: { kind: 'max', size: 2 } }); // → 3×3×2
    const c2 = new ConvCoupling(1, 2, v([2, 2, 2, 4]), { inputShape: c1.outputShape, padding: 1, pool: { kind: 'max', size: 2 } }); // 4×4 → 2×2×4
    const terms = [
      c1,
      new Bias(1, v([2]), 'b1', c1.outputShape),
      c2,
      new Bias(2, v([4]), 'b2', c2.outputShape),
      new DenseCoupling(2, 3, v([16, 3])),
      new Bias(3, v([3])),
    ];
    return new EnergyNetwork({
      inputShape: [8, 8, 1],
      layerShapes: [c1.outputShape, c2.outputShape, [3]],
      activations: [hardSigmoid, hardSigmoid, hardSigmoid],
      terms,
      cost: new MseCost(),
      form: 'primitive',
    });
  }

  it('fields of the bound network equal those of the terms, the dense field keeps the conv shape, nothing leaks', () => {
    const net = build(new Rng(5));
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    const bound = net.bind(x);
    let state = net.zeroState(2);
    for (let t = 0; t < 6; t++) {
      const next = tf.tidy(() => {
        const all = bound.allActs(state);
        return [1, 2, 3].map((k) => hardSigmoid.apply(bound.field(all, k)));
      });
      state.forEach((s) => s.dispose());
      state = next;
    }
    // every field of the relaxed state, recomputed term by term without the bound network's caches
    tf.tidy(() => {
      const all = bound.allActs(state);
      const fresh = new TermCache();
      for (const k of [1, 2, 3]) {
        const parts = net.terms.filter((term) => term.layers.includes(k)).map((term) => term.field(all, k, fresh));
        const f = bound.field(all, k);
        expect(f.shape).toEqual(all[k].shape);
        expect(relError(f, tf.addN(parts))).toBeLessThan(1e-5);
      }
      fresh.dispose();
    });
    state.forEach((s) => s.dispose());
    bound.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.tidy(() => {
      expect(net.energy(x, net.zeroState(2)).shape).toEqual([2]);
    });
  });

  it('subset(rows) gives the fields of those rows, in that order, and frees what it gathered', () => {
    const net = build(new Rng(6));
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 2);
    const state = randomActs(net.layerShapes, 4, 3);
    const bound = net.bind(x);
    const rows = [3, 1];
    const idx = tf.tensor1d(rows, 'int32');
    const expected = tf.tidy(() => [1, 2, 3].map((k) => tf.gather(bound.preActivation(bound.allActs(state), k), idx)));
    const before = tf.memory().numTensors; // the full batch's caches are filled by now
    const sub = bound.subset(rows);
    expect(sub.batchSize).toBe(2);
    tf.tidy(() => {
      const some = sub.allActs(state.map((s) => tf.gather(s, idx)));
      for (const k of [1, 2, 3]) expect(relError(sub.preActivation(some, k), expected[k - 1])).toBeLessThan(1e-6);
    });
    // the parameter-derived tensors (flipped kernels) are the batch's, not made again
    let made = 0;
    const make = () => {
      made++;
      return tf.zeros([1]);
    };
    const shared = sub.cache.shared('probe', make);
    expect(bound.cache.shared('probe', make)).toBe(shared);
    expect(made).toBe(1);
    sub.dispose();
    expect(tf.memory().numTensors).toBe(before + 1); // the probe lives in the batch's cache
    bound.dispose();
    [...state, ...expected, idx].forEach((t) => t.dispose());
  });
});

describe('bad shapes are clear errors', () => {
  const v = (shape: number[]) => tf.variable(tf.zeros(shape));
  it('a kernel larger than its input', () => {
    expect(() => new ConvCoupling(0, 1, v([5, 5, 1, 2]), { inputShape: [4, 4, 1] })).toThrow(ShapeError);
    expect(() => new ConvCoupling(0, 1, v([5, 5, 1, 2]), { inputShape: [4, 4, 1] })).toThrow(/K0_1: kernel 5×5 is larger than its input 4×4/);
    // with padding it fits
    expect(new ConvCoupling(0, 1, v([5, 5, 1, 2]), { inputShape: [4, 4, 1], padding: 1 }).outputShape).toEqual([2, 2, 2]);
  });
  it('pooling that does not divide the convolution output', () => {
    expect(() => new ConvCoupling(0, 1, v([3, 3, 1, 2]), { inputShape: [7, 7, 1], pool: { kind: 'max', size: 2 } })).toThrow(
      /K0_1: max-pooling of size 2 does not divide the 5×5 output of the convolution/,
    );
  });
  it('channels, kernel rank, stride, unknown pooling', () => {
    expect(() => new ConvCoupling(0, 1, v([3, 3, 2, 2]), { inputShape: [7, 7, 1] })).toThrow(
      /kernel takes 2 input channels, but the lower layer \[7,7,1\] has 1/,
    );
    expect(() => new ConvCoupling(0, 1, v([3, 3, 2]), { inputShape: [7, 7, 2] })).toThrow(/kernel must have shape \[kh, kw, in, out\], got \[3,3,2\]/);
    expect(() => new ConvCoupling(0, 1, v([3, 3, 1, 2]), { inputShape: [7, 7, 1], stride: 0 })).toThrow(/stride must be a positive integer, got 0/);
    expect(() => new ConvCoupling(0, 1, v([3, 3, 1, 2]), { inputShape: [7, 7, 1], pool: { kind: 'min' as 'max', size: 2 } })).toThrow(ConfigError);
    expect(POOL_KINDS).toEqual(['max', 'avg', 'none', 'softmax']);
  });
});
