import { ConfigError, Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ernoultSigmoid } from './activations.js';
import { Bias } from './bias.js';
import { ConvCoupling } from './conv-coupling.js';
import { MseCost } from './costs.js';
import { DenseCoupling } from './dense-coupling.js';
import { EnergyNetwork } from './network.js';
import type { Pooling } from './pooling.js';
import { TermCache } from './term.js';
import { VfConvCoupling } from './vf-conv-coupling.js';
import { VfDenseCoupling } from './vf-dense-coupling.js';
import { weightAngle, weightAngles } from './weight-angle.js';

// The couplings run on wasm (every op they use must exist there). The reference is tf.grad of each
// layer's own primitive Φ_k, written below with plain tf ops and run on the cpu backend (wasm has
// no Conv2DBackpropFilter, and its MaxPoolGrad routes wrongly in windows of values ≤ 0).
beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  await setupBackend('wasm');
});

type Arr = { shape: number[]; data: Float32Array };
const arr = (t: tf.Tensor): Arr => ({ shape: t.shape.slice(), data: t.dataSync() as Float32Array });
const ten = (a: Arr) => tf.tensor(a.data, a.shape);
const random = (rng: Rng, shape: number[], lo = -1, hi = 1): Arr => ({
  shape,
  data: rng.uniformArray(
    shape.reduce((p, q) => p * q, 1),
    lo,
    hi,
  ),
});

/** max|a − b| / max|b| on host arrays of one shape. */
function rel(a: Arr, b: Arr): number {
  expect(a.shape).toEqual(b.shape);
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < b.data.length; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(b.data[i]));
  }
  return diff / scale;
}

/** The per-layer cross terms a coupling between layers l and u puts in Φ_u (forward, W) and Φ_l (backward, B). */
interface CrossTerm {
  /** Σ over the batch of the cross term at lower activity l, upper activity u, weight K. */
  phi(l: tf.Tensor, u: tf.Tensor, K: tf.Tensor): tf.Scalar;
}

const denseCross: CrossTerm = { phi: (l, u, K) => tf.sum(tf.mul(tf.matMul(l.reshape([l.shape[0], -1]), K as tf.Tensor2D), u)) };

function convCross(pool: Pooling | undefined, padding = 0): CrossTerm {
  return {
    phi: (l, u, K) => {
      let y: tf.Tensor4D = tf.conv2d(l as tf.Tensor4D, K as tf.Tensor4D, 1, padding || 'valid');
      if (pool?.kind === 'max') y = tf.maxPool(y, pool.size, pool.size, 'valid');
      if (pool?.kind === 'avg') y = tf.avgPool(y, pool.size, pool.size, 'valid');
      if (pool?.kind === 'softmax') {
        // each window's Σ c·softmax(c/τ), as avg(c·e^{c/τ}) / avg(e^{c/τ})
        const e = tf.exp(tf.div(y, pool.temperature ?? 1));
        y = tf.div(tf.avgPool(tf.mul(y, e) as tf.Tensor4D, pool.size, pool.size, 'valid'), tf.avgPool(e as tf.Tensor4D, pool.size, pool.size, 'valid'));
      }
      return tf.sum(tf.mul(y, u));
    },
  };
}

/**
 * What the VF rule says, by tf.grad of the cross terms: the field on u is ∂Φ_u/∂a_u (W's term), on
 * l ∂Φ_l/∂a_l (B's term); W's update −∂Φ_u/∂W with the lower side at the anchor, B's −∂Φ_l/∂B
 * with the upper side at the anchor (batch means); `same`: both the mean of EP's updates of the
 * two terms at the phase's own state.
 */
function reference(x: CrossTerm, W: Arr, B: Arr, acts: Arr[], anchor: Arr[], scaleGrads = 1) {
  return tf.tidy(() => {
    const [l, u, al, au, w, b] = [ten(acts[0]), ten(acts[1]), ten(anchor[0]), ten(anchor[1]), ten(W), ten(B)];
    const n = l.shape[0];
    const dW = (lo: tf.Tensor, up: tf.Tensor) => tf.mul(tf.grad((k: tf.Tensor) => x.phi(lo, up, k))(w), -scaleGrads / n);
    const dB = (lo: tf.Tensor, up: tf.Tensor) => tf.mul(tf.grad((k: tf.Tensor) => x.phi(lo, up, k))(b), -scaleGrads / n);
    return {
      fieldUp: arr(tf.grad((v: tf.Tensor) => x.phi(l, v, w))(u)),
      fieldLow: arr(tf.grad((v: tf.Tensor) => x.phi(v, u, b))(l)),
      gradW: arr(dW(al, u)),
      gradB: arr(dB(l, au)),
      same: arr(tf.mul(tf.add(dW(l, u), dB(l, u)), 0.5)),
    };
  });
}

/** The coupling's own answers at `acts` (phase) and `other` (a second phase), anchored at `anchor`. */
function answers(term: VfDenseCoupling | VfConvCoupling, acts: tf.Tensor[], other: tf.Tensor[], anchor: tf.Tensor[]) {
  const cache = new TermCache();
  const before = tf.memory().numTensors;
  const got = tf.tidy(() => {
    const g = term.paramGrads(acts, anchor);
    const g2 = term.paramGrads(other, anchor);
    const d = term.paramGradsDiff(acts, other, 2.5, anchor);
    return {
      fieldUp: arr(term.field(acts, 2, cache)),
      fieldLow: arr(term.field(acts, 1, cache)),
      gradW: arr(g[term.name]),
      gradB: arr(g[term.backwardName]),
      // the difference in fewer ops against two paramGrads
      diffW: arr(d[term.name]),
      diffB: arr(d[term.backwardName]),
      twoW: arr(tf.mul(tf.sub(g[term.name], g2[term.name]), 2.5)),
      twoB: arr(tf.mul(tf.sub(g[term.backwardName], g2[term.backwardName]), 2.5)),
      // anchor left out: the second phase is the anchor (one-sided EP)
      diffDefault: arr(term.paramGradsDiff(acts, other, 2.5)[term.name]),
      diffAnchoredAtOther: arr(term.paramGradsDiff(acts, other, 2.5, other)[term.name]),
    };
  });
  cache.dispose();
  // every call left only what it returned (read above) and what the cache held
  expect(tf.memory().numTensors).toBe(before);
  return got;
}

describe('VfDenseCoupling against tf.grad of the per-layer primitives', () => {
  it.each([
    ['flat lower layer', [6]],
    ['conv-shaped lower layer, flattened', [2, 2, 3]],
  ])('%s: fields W·a_l and Bᵀ·a_u, anchored updates and their EP difference', async (_, lowerShape) => {
    const rng = new Rng(7);
    const n = lowerShape.reduce((a, b) => a * b, 1);
    const [W, B] = [random(rng, [n, 5], -0.5, 0.5), random(rng, [n, 5], -0.5, 0.5)];
    const batch = 4;
    const phase = [random(rng, [batch, ...lowerShape], 0, 1), random(rng, [batch, 5], 0, 1)];
    const other = [random(rng, [batch, ...lowerShape], 0, 1), random(rng, [batch, 5], 0, 1)];
    const anchor = [random(rng, [batch, ...lowerShape], 0, 1), random(rng, [batch, 5], 0, 1)];

    const term = new VfDenseCoupling(1, 2, tf.variable(ten(W)), tf.variable(ten(B)));
    const x = tf.zeros([batch, 3]);
    const as = (p: Arr[]) => [x, ten(p[0]), ten(p[1])];
    const [a, o, at] = [as(phase), as(other), as(anchor)];
    const got = answers(term, a, o, at);
    expect(term.isStaticFor(1) || term.isStaticFor(2)).toBe(false);

    await setupBackend('cpu');
    const ref = reference(denseCross, W, B, phase, anchor);
    const refOther = reference(denseCross, W, B, other, anchor);
    await setupBackend('wasm');
    expect(rel(got.fieldUp, ref.fieldUp)).toBeLessThan(1e-5);
    expect(rel(got.fieldLow, ref.fieldLow)).toBeLessThan(1e-5);
    expect(rel(got.gradW, ref.gradW)).toBeLessThan(1e-5);
    expect(rel(got.gradB, ref.gradB)).toBeLessThan(1e-5);
    const refDiffW = { ...ref.gradW, data: ref.gradW.data.map((v, i) => 2.5 * (v - refOther.gradW.data[i])) };
    expect(rel(got.diffW, refDiffW)).toBeLessThan(1e-4);
    expect(rel(got.diffW, got.twoW)).toBeLessThan(1e-5);
    expect(rel(got.diffB, got.twoB)).toBeLessThan(1e-5);
    expect(rel(got.diffDefault, got.diffAnchoredAtOther)).toBe(0);
    [...a, ...o.slice(1), ...at.slice(1)].forEach((t) => t.dispose());
  });

  it('sameUpdate: B gets the same update as W, EP’s update of the symmetric coupling (tf.grad of its energy)', async () => {
    const rng = new Rng(8);
    const [W, B] = [random(rng, [6, 5], -0.5, 0.5), random(rng, [6, 5], -0.5, 0.5)];
    const phase = [random(rng, [4, 6], 0, 1), random(rng, [4, 5], 0, 1)];
    const other = [random(rng, [4, 6], 0, 1), random(rng, [4, 5], 0, 1)];
    const term = new VfDenseCoupling(1, 2, tf.variable(ten(W)), tf.variable(ten(B)), { sameUpdate: true });
    const x = tf.zeros([4, 3]);
    const a = [x, ten(phase[0]), ten(phase[1])];
    const b = [x, ten(other[0]), ten(other[1])];
    const d = term.paramGradsDiff(a, b, 2.5, b);
    const g = term.paramGrads(a);
    // the symmetric coupling's EP difference, −2.5·(∂/∂W E(a) − ∂/∂W E(b)), E = −mean a_lᵀ W a_u, by tf.grad
    const sym = new DenseCoupling(1, 2, tf.variable(ten(W)));
    const energyGrad = (acts: tf.Tensor[]) =>
      tf.grad((w: tf.Tensor) => tf.mean(tf.neg(tf.sum(tf.mul(tf.matMul(acts[1], w as tf.Tensor2D), acts[2]), 1))))(sym.weight);
    const ep = tf.mul(tf.sub(energyGrad(a), energyGrad(b)), 2.5);
    expect(rel(arr(d[term.name]), arr(ep))).toBeLessThan(1e-5);
    expect(arr(d[term.backwardName]).data).toEqual(arr(d[term.name]).data);
    expect(arr(g[term.backwardName]).data).toEqual(arr(g[term.name]).data);
    expect(rel(arr(g[term.name]), arr(energyGrad(a)))).toBeLessThan(1e-5);
  });
});

interface ConvCase {
  title: string;
  lower: number[];
  kernel: number[];
  padding?: number;
  pool?: Pooling;
}

const CONV_CASES: ConvCase[] = [
  { title: 'max-pool 2 (B routes by its own mask)', lower: [6, 6, 2], kernel: [3, 3, 2, 3], pool: { kind: 'max', size: 2 } },
  { title: 'max-pool 2, padding 1 (the VFCNN geometry)', lower: [4, 4, 3], kernel: [3, 3, 3, 4], padding: 1, pool: { kind: 'max', size: 2 } },
  { title: 'avg-pool 2', lower: [6, 6, 2], kernel: [3, 3, 2, 3], pool: { kind: 'avg', size: 2 } },
  { title: 'softmax-pool 2, temperature 0.5', lower: [6, 6, 2], kernel: [3, 3, 2, 3], pool: { kind: 'softmax', size: 2, temperature: 0.5 } },
  { title: 'no pooling', lower: [5, 5, 2], kernel: [3, 3, 2, 2] },
];

describe('VfConvCoupling against tf.grad of the per-layer primitives', () => {
  CONV_CASES.forEach((c, i) => {
    it(c.title, async () => {
      const rng = new Rng(200 + i);
      const batch = 3;
      const [W, B] = [random(rng, c.kernel, -0.5, 0.5), random(rng, c.kernel, -0.5, 0.5)];
      const opts = { inputShape: c.lower, padding: c.padding, pool: c.pool };
      const term = new VfConvCoupling(1, 2, tf.variable(ten(W)), tf.variable(ten(B)), opts);
      const same = new VfConvCoupling(1, 2, tf.variable(ten(W)), tf.variable(ten(B)), { ...opts, sameUpdate: true });
      const up = [batch, ...term.outputShape];
      // lower activities of both signs: max-pool windows of values ≤ 0 are where wasm's own routing fails
      const phase = [random(rng, [batch, ...c.lower]), random(rng, up, 0, 1)];
      const other = [random(rng, [batch, ...c.lower]), random(rng, up, 0, 1)];
      const anchor = [random(rng, [batch, ...c.lower]), random(rng, up, 0, 1)];
      const x = tf.zeros([batch, 1]);
      const as = (p: Arr[]) => [x, ten(p[0]), ten(p[1])];
      const [a, o, at] = [as(phase), as(other), as(anchor)];
      const got = answers(term, a, o, at);
      const sameDiff = tf.tidy(() => {
        const d = same.paramGradsDiff(a, o, 2.5, at);
        return { w: arr(d[same.name]), b: arr(d[same.backwardName]) };
      });

      await setupBackend('cpu');
      const cross = convCross(c.pool, c.padding);
      const ref = reference(cross, W, B, phase, anchor);
      const refOther = reference(cross, W, B, other, anchor);
      await setupBackend('wasm');
      expect(rel(got.fieldUp, ref.fieldUp)).toBeLessThan(1e-5);
      expect(rel(got.fieldLow, ref.fieldLow)).toBeLessThan(1e-5);
      expect(rel(got.gradW, ref.gradW)).toBeLessThan(1e-5);
      expect(rel(got.gradB, ref.gradB)).toBeLessThan(1e-5);
      const diff = (p: Arr, q: Arr) => ({ ...p, data: p.data.map((v, j) => 2.5 * (v - q.data[j])) });
      expect(rel(got.diffW, diff(ref.gradW, refOther.gradW))).toBeLessThan(1e-4);
      expect(rel(got.diffB, diff(ref.gradB, refOther.gradB))).toBeLessThan(1e-4);
      expect(rel(got.diffW, got.twoW)).toBeLessThan(1e-5);
      expect(rel(got.diffB, got.twoB)).toBeLessThan(1e-5);
      // same update: W and B both get the mean of EP's updates of the two cross terms
      expect(sameDiff.b.data).toEqual(sameDiff.w.data);
      expect(rel(sameDiff.w, diff(ref.same, refOther.same))).toBeLessThan(1e-4);
      [...a, ...o.slice(1), ...at.slice(1)].forEach((t) => t.dispose());
    });
  });
});

describe('the W–B angle', () => {
  it('is the reference’s acos(⟨W, B⟩ / ‖W‖‖B‖) in degrees, 0 for B = W and 180 for B = −W', () => {
    const rng = new Rng(9);
    const W = random(rng, [7, 5]);
    const B = random(rng, [7, 5]);
    let dot = 0;
    let ww = 0;
    let bb = 0;
    for (let i = 0; i < W.data.length; i++) {
      dot += W.data[i] * B.data[i];
      ww += W.data[i] ** 2;
      bb += B.data[i] ** 2;
    }
    const expected = (Math.acos(dot / Math.sqrt(ww * bb)) * 180) / Math.PI;
    const term = new VfDenseCoupling(1, 2, tf.variable(ten(W)), tf.variable(ten(B)));
    expect(term.angle().dataSync()[0]).toBeCloseTo(expected, 3);
    expect(weightAngle(ten(W), ten(W)).dataSync()[0]).toBe(0);
    expect(weightAngle(ten(W), tf.neg(ten(W))).dataSync()[0]).toBeCloseTo(180, 4);
    const conv = new VfConvCoupling(1, 2, tf.variable(ten(random(rng, [3, 3, 2, 2]))), tf.variable(ten(random(rng, [3, 3, 2, 2]))), { inputShape: [5, 5, 2] });
    expect(conv.angle().dataSync()[0]).toBeGreaterThan(0);
  });

  it('weightAngles reads every VF term of a network at once, by term name', async () => {
    const net = vfNet(new Rng(10));
    const angles = await weightAngles(net);
    expect(Object.keys(angles)).toEqual(['W1_2']);
    expect(angles.W1_2).toBeCloseTo((net.terms[2] as VfDenseCoupling).angle().dataSync()[0], 5);
    expect(await weightAngles({ terms: [net.terms[0]] })).toEqual({});
  });
});

/** input 3 → 4 → 2: a dense input coupling and biases, one VF coupling between the free layers. */
function vfNet(rng: Rng): EnergyNetwork {
  const v = (shape: number[]) => tf.variable(ten(random(rng, shape, -0.5, 0.5)));
  return new EnergyNetwork({
    inputShape: [3],
    layerShapes: [[4], [2]],
    activations: [ernoultSigmoid, ernoultSigmoid],
    terms: [new DenseCoupling(0, 1, v([3, 4])), new Bias(1, v([4])), new VfDenseCoupling(1, 2, v([4, 2]), v([4, 2])), new Bias(2, v([2]))],
    cost: new MseCost(),
    form: 'primitive',
  });
}

describe('a network with a vector-field term', () => {
  it('has no energy: asking for one is a one-line ConfigError naming the term', () => {
    const net = vfNet(new Rng(11));
    expect(net.hasEnergy).toBe(false);
    const x = tf.ones([2, 3]);
    const states = net.zeroState(2);
    const message =
      /^the energy E: this network has no energy \(term W1_2 is a vector field: fields and updates, no energy\); relax it with the fixed-point solver/;
    expect(() => net.energy(x, states)).toThrow(ConfigError);
    expect(() => net.energy(x, states)).toThrow(message);
    const bound = net.bind(x);
    const before = tf.memory().numTensors;
    expect(() => bound.totalEnergy(states, { beta: 0.5, y: tf.zeros([2, 2]) })).toThrow(message);
    expect(tf.memory().numTensors).toBe(before + 1); // the zeros target only: nothing half-made is left
    expect(() => net.requireEnergy('an energy trace')).toThrow(/^an energy trace: this network has no energy/);
    bound.dispose();
  });

  it('passes the anchor to its terms: BoundNetwork.paramGradsDiff equals the terms’ own anchored differences', () => {
    const net = vfNet(new Rng(12));
    const x = tf.randomUniform([3, 3], 0, 1, 'float32', 1);
    const bound = net.bind(x);
    const st = (seed: number) => net.layerShapes.map((s, i) => tf.randomUniform([3, ...s], 0, 1, 'float32', seed + i));
    const [a, b, free] = [st(20), st(30), st(40)];
    const vf = net.terms[2] as VfDenseCoupling;
    const all = (s: tf.Tensor[]) => [x, ...s];
    const g = bound.paramGradsDiff(a, b, 1.5, free);
    const expected = vf.paramGradsDiff(all(a), all(b), 1.5, all(free));
    expect(rel(arr(g.W1_2), arr(expected.W1_2))).toBe(0);
    expect(rel(arr(g.B1_2), arr(expected.B1_2))).toBe(0);
    // left out, the anchor is b (the free state of a one-sided estimate)
    expect(rel(arr(bound.paramGradsDiff(a, b, 1.5).W1_2), arr(vf.paramGradsDiff(all(a), all(b), 1.5, all(b)).W1_2))).toBe(0);
    expect(rel(arr(bound.paramGrads(a, free).B1_2), arr(vf.paramGrads(all(a), all(free)).B1_2))).toBe(0);
    bound.dispose();
  });

  it('paramGradsDiff of a network of conv, dense, bias and VF terms equals tf.grad of the energies and of the VF primitives, anchored', async () => {
    await setupBackend('cpu'); // tf.grad of a conv kernel (wasm has no Conv2DBackpropFilter)
    const rng = new Rng(13);
    const v = (shape: number[]) => tf.variable(ten(random(rng, shape, -0.5, 0.5)));
    const maxPool: Pooling = { kind: 'max', size: 2 };
    // x [8, 8, 1] → [6, 6, 2] → [2, 2, 3] → [4] → [3]; layer 2 has a conv coupling and a VF conv coupling side by side
    const energyTerms = [
      new ConvCoupling(0, 1, v([3, 3, 1, 2]), { inputShape: [8, 8, 1] }),
      new Bias(1, v([2]), 'b1', [6, 6, 2]),
      new ConvCoupling(1, 2, v([3, 3, 2, 3]), { inputShape: [6, 6, 2], pool: maxPool }),
      new DenseCoupling(0, 3, v([64, 4]), 'D0_3'),
      new DenseCoupling(3, 4, v([4, 3])),
      new Bias(4, v([3])),
    ];
    const vfConv = new VfConvCoupling(1, 2, v([3, 3, 2, 3]), v([3, 3, 2, 3]), { inputShape: [6, 6, 2], pool: maxPool }, 'V1_2', 'U1_2');
    const vfDense = new VfDenseCoupling(2, 3, v([12, 4]), v([12, 4]));
    const net = new EnergyNetwork({
      inputShape: [8, 8, 1],
      layerShapes: [[6, 6, 2], [2, 2, 3], [4], [3]],
      activations: [ernoultSigmoid, ernoultSigmoid, ernoultSigmoid, ernoultSigmoid],
      terms: [...energyTerms, vfConv, vfDense],
      cost: new MseCost(),
      form: 'primitive', // the terms see the states themselves
    });
    const n = 3;
    const x = tf.randomUniform([n, 8, 8, 1], 0, 1, 'float32', 60);
    const st = (seed: number) => net.layerShapes.map((s, i) => tf.randomUniform([n, ...s], 0, 1, 'float32', seed + i));
    const [a, b, free] = [st(70), st(80), st(90)];
    const bound = net.bind(x);
    const scale = 1.5;
    const all = (s: tf.Tensor[]) => [x, ...s];
    const check = (got: Record<string, tf.Tensor>, at: tf.Tensor[]) =>
      tf.tidy(() => {
        const ref: Record<string, tf.Tensor> = {};
        // energy terms: scale·(∂(mean E)/∂θ at a − at b), by tf.grad; they ignore the anchor
        const energyGrads = (s: tf.Tensor[]) => {
          const params = energyTerms.flatMap((t) => Object.entries(t.params));
          const { grads, value } = tf.variableGrads(
            () => tf.mean(tf.addN(energyTerms.map((t) => t.energy(all(s))))) as tf.Scalar,
            params.map(([, p]) => p),
          );
          value.dispose();
          return Object.fromEntries(params.map(([name, p]) => [name, grads[p.name]]));
        };
        const [ea, eb] = [energyGrads(a), energyGrads(b)];
        for (const name of Object.keys(ea)) ref[name] = tf.mul(tf.sub(ea[name], eb[name]), scale);
        // VF terms: W updates by −∂Φ_u/∂W with the lower layer at the anchor, B by −∂Φ_l/∂B with the upper layer at the anchor
        const vfRef = (cross: CrossTerm, W: tf.Tensor, B: tf.Tensor, l: number, u: number, names: [string, string]) => {
          const d = (K: tf.Tensor, lo: tf.Tensor, up: tf.Tensor) => tf.mul(tf.grad((k: tf.Tensor) => cross.phi(lo, up, k))(K), -scale / n);
          const [sa, sb] = [all(a), all(b)];
          const anchor = all(at);
          ref[names[0]] = tf.sub(d(W, anchor[l], sa[u]), d(W, anchor[l], sb[u]));
          ref[names[1]] = tf.sub(d(B, sa[l], anchor[u]), d(B, sb[l], anchor[u]));
        };
        vfRef(convCross(maxPool), vfConv.forward, vfConv.backward, 1, 2, ['V1_2', 'U1_2']);
        vfRef(denseCross, vfDense.forward, vfDense.backward, 2, 3, ['W2_3', 'B2_3']);
        expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
        for (const name of Object.keys(ref)) expect(rel(arr(got[name]), arr(ref[name])), name).toBeLessThan(1e-4);
        tf.dispose(Object.values(got));
      });
    check(bound.paramGradsDiff(a, b, scale, free), free);
    // left out, the anchor is b
    check(bound.paramGradsDiff(a, b, scale), b);
    bound.dispose();
    await setupBackend('wasm');
  });

  it('refuses couplings that do not fit in one line', () => {
    const v = (shape: number[]) => tf.variable(tf.zeros(shape));
    expect(() => new VfDenseCoupling(0, 1, v([3, 4]), v([3, 4]))).toThrow(ConfigError);
    expect(() => new VfDenseCoupling(0, 1, v([3, 4]), v([3, 4]))).toThrow(/W0_1: a vector-field coupling joins free layers l < u/);
    expect(() => new VfDenseCoupling(1, 2, v([4, 2]), v([2, 4]))).toThrow(ShapeError);
    expect(() => new VfDenseCoupling(1, 2, v([4, 2]), v([2, 4]))).toThrow(
      /B1_2: backward weight of shape \[2,4\] must have the forward weight's shape \[4,2\]/,
    );
    expect(() => new VfConvCoupling(1, 2, v([3, 3, 2, 2]), v([3, 3, 2, 3]), { inputShape: [5, 5, 2] })).toThrow(ShapeError);
    const misfit = () =>
      new EnergyNetwork({
        inputShape: [3],
        layerShapes: [[5], [2]],
        activations: [ernoultSigmoid, ernoultSigmoid],
        terms: [new VfDenseCoupling(1, 2, v([4, 2]), v([4, 2]))],
        cost: new MseCost(),
        form: 'primitive',
      });
    expect(misfit).toThrow(/term W1_2: weight of shape \[4,2\] needs 4 units on layer 1, which has shape \[5\]/);
  });
});
