import { type Grads, Rng, setupBackend, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { buildModel, layeredMlp } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { complexLogistic } from './estimators/complex-fixed-point.js';
import { createEstimator, disposeRelaxation, type Estimate } from './estimators.js';
import { type RefForm, refRandomNet, refTrueGradient } from './testing/reference-network.js';

// the five-phase and holomorphic estimators against the float64 true gradient (central finite
// differences of the equilibrium loss, testing/reference-network.ts) on a tiny converged network,
// on the wasm backend (complex states as real/imaginary pairs of float32 tensors)

beforeAll(async () => {
  await setupBackend('wasm');
});

const ref = refRandomNet([4, 6, 3], 7, 0.5);
const form: RefForm = { kind: 'primitive-fp', gain: 4, centre: 0.5, schedule: 'alternating' };
const rng = new Rng(9);
const xs = Array.from({ length: 3 }, () => Array.from(rng.uniformArray(4, 0, 1)));
const ys = Array.from({ length: 3 }, () => {
  const l = rng.int(3);
  return [0, 1, 2].map((j) => (j === l ? 1 : 0));
});
let truth: number[];
let net: EnergyNetwork;

beforeAll(() => {
  const g = refTrueGradient(ref, form, xs, ys, 200);
  truth = [...g.W.flat(2), ...g.b.flat()];
  net = layeredMlp({ kind: 'mlp', sizes: ref.sizes, activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse' }, new Rng(0));
  ref.W.forEach((w, k) => net.params[`W${k}_${k + 1}`].assign(tf.tensor2d(w)));
  ref.b.forEach((b, k) => net.params[`b${k + 1}`].assign(tf.tensor1d(b)));
});

const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));

/** One estimate at β (200 free and 200 nudged steps: converged), its gradients flattened as the reference's, all tensors disposed. */
function run(name: string, beta: number, nudgedSteps = 200): { flat: number[]; est: Estimate } {
  const bound = net.bind(tf.tensor2d(xs));
  const y = tf.tensor2d(ys);
  const init = net.zeroState(3);
  const est = createEstimator(name, { beta }).estimate({
    bound,
    y,
    solver: new FixedPoint('alternating'),
    init,
    free: { maxSteps: 200 },
    nudged: { maxSteps: nudgedSteps },
  });
  const flat = flatGrads(est.grads);
  disposeRelaxation(est.free);
  est.nudged.forEach(disposeRelaxation);
  tf.dispose([...Object.values(est.grads), ...init, y, bound.x]);
  bound.dispose();
  return { flat, est };
}

function flatGrads(grads: Grads): number[] {
  const out: number[] = [];
  ref.W.forEach((_, k) => out.push(...grads[`W${k}_${k + 1}`].dataSync()));
  ref.b.forEach((_, k) => out.push(...grads[`b${k + 1}`].dataSync()));
  return out;
}

const relError = (flat: number[]) => norm(flat.map((v, i) => v - truth[i])) / norm(truth);

/** Least-squares slope of log(error) against log(β). */
function slope(name: string, betas: number[]): { errs: number[]; slope: number } {
  const errs = betas.map((b) => relError(run(name, b).flat));
  const lx = betas.map(Math.log);
  const ly = errs.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  return { errs, slope: lx.reduce((a, x, i) => a + (x - mx) * (ly[i] - my), 0) / lx.reduce((a, x) => a + (x - mx) ** 2, 0) };
}

// β ranges where the bias is above the float32 floor (~3e-6 relative here, reached near β = 0.03
// by holomorphic-4) and in its asymptotic regime (β ≤ 0.25)
const SMALL = [0.125, 0.09, 0.0625, 0.045, 0.03];
const LARGER = [0.25, 0.18, 0.125, 0.09, 0.0625];

describe('higher-order estimators against the float64 true gradient (tiny converged primitive network, wasm)', () => {
  it('five-phase: log-log slope ≈ 4 over β = 0.03 … 0.125', () => {
    const r = slope('five-phase', SMALL);
    expect(r.slope, `errors ${r.errs}`).toBeGreaterThan(3.6);
    expect(r.slope, `errors ${r.errs}`).toBeLessThan(4.4);
  });

  it.each([
    ['holomorphic-2', 2, SMALL],
    ['holomorphic-3', 3, SMALL],
    ['holomorphic-4', 4, LARGER],
  ] as const)('%s: log-log slope ≈ %i', (name, N, betas) => {
    const r = slope(name, [...betas]);
    expect(r.slope, `errors ${r.errs}`).toBeGreaterThan(N - 0.3);
    expect(r.slope, `errors ${r.errs}`).toBeLessThan(N + 0.3);
  });

  it('where the symmetric estimate is ~1e-2 from the true gradient, holomorphic-4 is over 10× closer', () => {
    const beta = 0.09;
    const sym = relError(run('symmetric', beta).flat);
    const holo = relError(run('holomorphic-4', beta).flat);
    expect(sym).toBeGreaterThan(0.005);
    expect(sym).toBeLessThan(0.02);
    expect(holo * 10).toBeLessThan(sym);
  });

  it('holomorphic: a complex phase that does not converge falls back to N = 2, the symmetric estimate', () => {
    // one nudged step: every phase is far from its equilibrium (the complex one moved > 0.1)
    const short = run('holomorphic-3', 0.5, 1);
    expect(short.est.fallback).toMatch(/^the complex phase β·e\^\{0\.667πi\} did not converge \(last step .* > 0\.1\): the ±β estimate \(N = 2\) instead$/);
    expect(short.est.nudged).toHaveLength(3); // +β, the complex phase, then −β for the fallback
    expect(short.flat).toEqual(run('symmetric', 0.5, 1).flat);
    // a β too large for the complex dynamics: the phase at β·e^{iπ/3} diverges
    const wide = run('holomorphic-6', 1);
    expect(wide.est.fallback).toMatch(/did not converge/);
    expect(wide.flat).toEqual(run('symmetric', 1).flat);
    // converged: no fallback
    expect(run('holomorphic-6', 0.25).est.fallback).toBeUndefined();
  });

  it('through a CE readout (complex softmax nudge): holomorphic-4 log-log slope ≈ 4, holomorphic-3 ≈ 3', () => {
    // laborieux2021-mlp's dynamics, tiny: the readout's own gradient is ∂C/∂θ at the free state, as for every estimator
    const sizes = [6, 10, 8];
    const ce = refRandomNet(sizes, 5, 0.6, 4);
    const ceNet = layeredMlp({ kind: 'mlp', sizes: [...sizes, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'ce' }, new Rng(0));
    ce.W.forEach((w, k) => ceNet.params[`W${k}_${k + 1}`].assign(tf.tensor2d(w)));
    ce.b.forEach((b, k) => ceNet.params[`b${k + 1}`].assign(tf.tensor1d(b)));
    ceNet.params.Wout.assign(tf.tensor2d(ce.readout!.W));
    ceNet.params.bout.assign(tf.tensor1d(ce.readout!.b));
    const r = new Rng(9);
    const cxs = Array.from({ length: 4 }, () => Array.from(r.uniformArray(6, 0, 1)));
    const cys = Array.from({ length: 4 }, (_, e) => [0, 1, 2, 3].map((c) => (c === e ? 1 : 0)));
    const t = refTrueGradient(ce, { kind: 'primitive-fp', gain: 4, centre: 0.5, schedule: 'synchronous' }, cxs, cys, 300);
    const want = [...t.W.flat(2), ...t.b.flat()];
    const error = (name: string, beta: number) => {
      const bound = ceNet.bind(tf.tensor2d(cxs));
      const y = tf.tensor2d(cys);
      const init = ceNet.zeroState(4);
      const est = createEstimator(name, { beta }).estimate({
        bound,
        y,
        solver: new FixedPoint('synchronous'),
        init,
        free: { maxSteps: 300 },
        nudged: { maxSteps: 300 },
      });
      expect(Object.keys(est.grads)).toContain('Wout');
      const got: number[] = [];
      ce.W.forEach((_, k) => got.push(...est.grads[`W${k}_${k + 1}`].dataSync()));
      ce.b.forEach((_, k) => got.push(...est.grads[`b${k + 1}`].dataSync()));
      disposeRelaxation(est.free);
      est.nudged.forEach(disposeRelaxation);
      tf.dispose([...Object.values(est.grads), ...init, y, bound.x]);
      bound.dispose();
      return norm(got.map((v, i) => v - want[i])) / norm(want);
    };
    const fit = (name: string) => {
      const betas = [0.25, 0.18, 0.125, 0.09, 0.0625];
      const lx = betas.map(Math.log);
      const ly = betas.map((b) => Math.log(error(name, b)));
      const mx = lx.reduce((a, b) => a + b) / lx.length;
      const my = ly.reduce((a, b) => a + b) / ly.length;
      return lx.reduce((a, x, i) => a + (x - mx) * (ly[i] - my), 0) / lx.reduce((a, x) => a + (x - mx) ** 2, 0);
    };
    expect(Math.abs(fit('holomorphic-4') - 4)).toBeLessThan(0.3);
    expect(Math.abs(fit('holomorphic-3') - 3)).toBeLessThan(0.3);
  });

  it('on a convnet with average pooling and two convolutions (one between free layers), holomorphic-4 at β = 0.1 lands where the symmetric estimate goes as β → 0', () => {
    const conv = buildModel(
      {
        kind: 'conv',
        inputShape: [8, 8, 1],
        channels: [2, 3],
        kernels: [3, 2],
        pools: ['avg', 'none'],
        dense: [3],
        activation: 'ernoult-sigmoid',
        cost: 'mse',
      },
      new Rng(4),
    );
    const r = new Rng(6);
    const x = tf.tensor4d(r.uniformArray(4 * 64, 0, 1), [4, 8, 8, 1]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3).toFloat();
    const estimate = (name: string, beta: number) => {
      const bound = conv.bind(x);
      const init = conv.zeroState(4);
      const est = createEstimator(name, { beta }).estimate({
        bound,
        y,
        solver: new FixedPoint('synchronous'),
        init,
        free: { maxSteps: 150 },
        nudged: { maxSteps: 150 },
      });
      expect(est.fallback).toBeUndefined();
      const flat = Object.keys(est.grads).flatMap((k) => Array.from(est.grads[k].dataSync()));
      disposeRelaxation(est.free);
      est.nudged.forEach(disposeRelaxation);
      tf.dispose([...Object.values(est.grads), ...init]);
      bound.dispose();
      return flat;
    };
    const limit = estimate('symmetric', 0.01); // bias ~1e-4 of the gradient
    const dist = (a: number[]) => norm(a.map((v, i) => v - limit[i])) / norm(limit);
    const sym = dist(estimate('symmetric', 0.1));
    const holo = dist(estimate('holomorphic-4', 0.1));
    expect(sym).toBeGreaterThan(1e-3);
    expect(holo * 10).toBeLessThan(sym);
    tf.dispose([x, y]);
  });

  it('per-example stops (tol, perExample) relax complex phases too: the same estimate to the tolerance', () => {
    const estimate = (opts: { tol?: number; perExample?: boolean }) => {
      const bound = net.bind(tf.tensor2d(xs));
      const y = tf.tensor2d(ys);
      const init = net.zeroState(3);
      const phase = { maxSteps: 300, ...opts };
      const est = createEstimator('holomorphic-4', { beta: 0.2 }).estimate({
        bound,
        y,
        solver: new FixedPoint('alternating'),
        init,
        free: phase,
        nudged: phase,
      });
      const flat = flatGrads(est.grads);
      const steps = est.nudged.map((r) => r.meanSteps);
      disposeRelaxation(est.free);
      est.nudged.forEach(disposeRelaxation);
      tf.dispose([...Object.values(est.grads), ...init, y, bound.x]);
      bound.dispose();
      return { flat, steps };
    };
    const full = estimate({});
    const stopped = estimate({ tol: 1e-7, perExample: true });
    expect(stopped.steps[1]).toBeLessThan(300); // the complex phase stopped early
    expect(norm(stopped.flat.map((v, i) => v - full.flat[i])) / norm(full.flat)).toBeLessThan(1e-4);
  });

  it('leaks no tensors', () => {
    run('holomorphic-4', 0.1, 5);
    run('five-phase', 0.1, 5);
    const before = tf.memory().numTensors;
    run('holomorphic-4', 0.1, 5);
    run('holomorphic-3', 0.5, 1);
    run('five-phase', 0.1, 5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the complex logistic equals 1/(1 + e^{−z}) in float64, for large |Re z| too', () => {
    const zs: [number, number][] = [];
    for (const a of [-60, -8, -1.5, -0.2, 0, 0.3, 2, 9, 70]) for (const b of [-2.5, -0.4, 0, 0.01, 1, 3]) zs.push([a, b]);
    const [re, im] = complexLogistic(tf.tensor1d(zs.map((z) => z[0])), tf.tensor1d(zs.map((z) => z[1])));
    const [gotRe, gotIm] = [re.dataSync(), im.dataSync()];
    zs.forEach(([a, b], i) => {
      // 1/(1 + e^{−a}(cos b − i sin b)) = conj(d)/|d|² with d = 1 + e^{−a} cos b − i e^{−a} sin b
      const [dr, di] = [1 + Math.exp(-a) * Math.cos(b), -Math.exp(-a) * Math.sin(b)];
      const m = dr * dr + di * di;
      const [wantRe, wantIm] = Number.isFinite(m) ? [dr / m, -di / m] : [0, 0];
      // float32: 1e-6 of the value's size (σ grows near its poles at ±iπ)
      const size = Math.max(1, Math.hypot(wantRe, wantIm));
      expect(Math.abs(gotRe[i] - wantRe) / size, `σ(${a} + ${b}i)`).toBeLessThan(1e-6);
      expect(Math.abs(gotIm[i] - wantIm) / size, `σ(${a} + ${b}i)`).toBeLessThan(1e-6);
    });
    tf.dispose([re, im]);
  });
});
