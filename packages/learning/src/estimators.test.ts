import { type Grads, Rng, setupBackend, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeRelaxation, EpEstimator, type EstimatorKind } from './estimators.js';
import { type RefForm, type RefNet, refParamGrads, refRandomNet, refRelax, refTrueGradient } from './testing/reference-network.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** A tfjs network holding exactly the reference's parameters. */
function twin(ref: RefNet, form: 'hopfield' | 'primitive'): EnergyNetwork {
  const net = layeredMlp(
    { kind: 'mlp', sizes: ref.sizes, activation: form === 'hopfield' ? 'hard-sigmoid' : 'ernoult-sigmoid', form, cost: 'mse' },
    new Rng(0),
  );
  ref.W.forEach((w, k) => net.params[`W${k}_${k + 1}`].assign(tf.tensor2d(w)));
  ref.b.forEach((b, k) => net.params[`b${k + 1}`].assign(tf.tensor1d(b)));
  return net;
}

function data(sizes: number[], batch: number, seed: number) {
  const rng = new Rng(seed);
  const xs = Array.from({ length: batch }, () => Array.from(rng.uniformArray(sizes[0], 0, 1)));
  const labels = Array.from({ length: batch }, () => rng.int(sizes[sizes.length - 1]));
  const ys = labels.map((l) => Array.from({ length: sizes[sizes.length - 1] }, (_, j) => (j === l ? 1 : 0)));
  return { xs, ys };
}

function flatGrads(g: { W: number[][][]; b: number[][] }): number[] {
  return [...g.W.flat(2), ...g.b.flat()];
}

function flatTf(grads: Grads, ref: RefNet): number[] {
  const out: number[] = [];
  ref.W.forEach((_, k) => out.push(...grads[`W${k}_${k + 1}`].dataSync()));
  ref.b.forEach((_, k) => out.push(...grads[`b${k + 1}`].dataSync()));
  return out;
}

const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
const relDiff = (a: number[], b: number[]) => norm(a.map((v, i) => v - b[i])) / norm(b);

function tfEstimate(
  net: EnergyNetwork,
  solver: GradientDescent | FixedPoint,
  kind: EstimatorKind,
  beta: number,
  xs: number[][],
  ys: number[][],
  free: number,
  nudged: number,
) {
  const bound = net.bind(tf.tensor2d(xs));
  const y = tf.tensor2d(ys);
  const init = net.zeroState(xs.length);
  const est = new EpEstimator(kind, beta, new Rng(1)).estimate({ bound, y, solver, init, free: { maxSteps: free }, nudged: { maxSteps: nudged } });
  const freeStates = est.free.state.map((t) => t.arraySync() as number[][]);
  const result = { grads: est.grads, free: freeStates, beta: est.beta };
  disposeRelaxation(est.free);
  est.nudged.forEach(disposeRelaxation);
  bound.dispose();
  return result;
}

describe('EP estimators', () => {
  it('agree with an independent float64 implementation (hopfield energy, gradient descent)', () => {
    const ref = refRandomNet([5, 7, 4], 11, 0.6);
    const form: RefForm = { kind: 'hopfield-gd', eps: 0.5 };
    const { xs, ys } = data(ref.sizes, 3, 5);
    const beta = 0.5;
    const net = twin(ref, 'hopfield');
    const est = tfEstimate(net, new GradientDescent(0.5), 'one-sided', beta, xs, ys, 30, 6);
    // reference: the same relaxations and the same finite difference
    const free = xs.map((x) => refRelax(ref, form, x, 30));
    const nudged = xs.map((x, e) => refRelax(ref, form, x, 6, beta, ys[e], free[e]));
    const g0 = refParamGrads(ref, xs, free);
    const gb = refParamGrads(ref, xs, nudged);
    const expected = flatGrads({
      W: gb.W.map((w, k) => w.map((r, i) => r.map((v, j) => (v - g0.W[k][i][j]) / beta))),
      b: gb.b.map((v, k) => v.map((u, j) => (u - g0.b[k][j]) / beta)),
    });
    // tfjs states are [layer][example][unit], the reference's [example][layer][unit]
    const refByLayer = free[0].map((_, l) => free.map((ex) => ex[l]));
    expect(relDiff(est.free.flat(2), refByLayer.flat(2))).toBeLessThan(1e-5);
    expect(relDiff(flatTf(est.grads, ref), expected)).toBeLessThan(1e-4);
  });

  it('one-sided error shrinks ~linearly in β, symmetric ~quadratically (converged tiny net)', () => {
    const ref = refRandomNet([4, 6, 3], 7, 0.5);
    const form: RefForm = { kind: 'primitive-fp', gain: 4, centre: 0.5, schedule: 'alternating' };
    const { xs, ys } = data(ref.sizes, 3, 9);
    const truth = flatGrads(refTrueGradient(ref, form, xs, ys, 200));
    const net = twin(ref, 'primitive');
    const solver = new FixedPoint('alternating');
    const betas = [0.1, 0.05, 0.025, 0.0125];
    const slope = (kind: EstimatorKind) => {
      const errs = betas.map((b) => relDiff(flatTf(tfEstimate(net, solver, kind, b, xs, ys, 200, 200).grads, ref), truth));
      // least-squares slope of log(error) against log(β)
      const lx = betas.map(Math.log);
      const ly = errs.map(Math.log);
      const mx = lx.reduce((a, b) => a + b) / lx.length;
      const my = ly.reduce((a, b) => a + b) / ly.length;
      return { errs, slope: lx.reduce((a, x, i) => a + (x - mx) * (ly[i] - my), 0) / lx.reduce((a, x) => a + (x - mx) ** 2, 0) };
    };
    const one = slope('one-sided');
    const sym = slope('symmetric');
    expect(one.slope).toBeGreaterThan(0.8);
    expect(one.slope).toBeLessThan(1.2);
    expect(sym.slope).toBeGreaterThan(1.7);
    expect(sym.slope).toBeLessThan(2.3);
    // and the symmetric estimate is better at every β
    sym.errs.forEach((e, i) => expect(e).toBeLessThan(one.errs[i]));
    expect(sym.errs[3]).toBeLessThan(0.01);
  });

  it('random-sign draws both signs and rejects a bad β', () => {
    const ref = refRandomNet([3, 4, 2], 3, 0.5);
    const net = twin(ref, 'primitive');
    const { xs, ys } = data(ref.sizes, 2, 1);
    const signs = new Set<number>();
    const est = new EpEstimator('random-sign', 0.1, new Rng(4));
    for (let i = 0; i < 10; i++) {
      const bound = net.bind(tf.tensor2d(xs));
      const r = est.estimate({ bound, y: tf.tensor2d(ys), solver: new FixedPoint(), init: net.zeroState(2), free: { maxSteps: 5 }, nudged: { maxSteps: 2 } });
      signs.add(Math.sign(r.beta));
      bound.dispose();
    }
    expect([...signs].sort()).toEqual([-1, 1]);
    expect(() => new EpEstimator('one-sided', -1)).toThrow(/β must be a positive number, got -1/);
    expect(() => new EpEstimator('one-sided', 0)).toThrow(/got 0/);
    expect(() => new EpEstimator('two-sided' as EstimatorKind, 0.1)).toThrow(/unknown estimator "two-sided"/);
  });
});
