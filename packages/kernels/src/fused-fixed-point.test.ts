import { ConfigError, Rng, type State, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, type FixedPointOptions, type FixedPointSchedule, type RelaxOptions } from '@eqprop/solvers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FusedFixedPoint } from './fused-fixed-point.js';
import { KernelTeam } from './kernel-team.js';
import { relGap } from './test-utils.js';

let pair: KernelTeam;
beforeAll(async () => {
  await setupBackend('wasm');
  pair = await KernelTeam.start({ threads: 2 });
});
afterAll(() => pair.dispose());

/** The values of every layer, as plain arrays (bitwise comparisons). */
const values = (s: State) => s.map((t) => Array.from(t.dataSync()));

// widths that take both product forms: 16 ← 12 (nn), 12 ← 16 and 6 ← 12 (nt), 12 ← 6 (nn)
function setup(form: 'hopfield' | 'primitive', sizes = [20, 16, 12, 6], batch = 7, seed = 5) {
  const net = layeredMlp(
    { kind: 'mlp', sizes, activation: form === 'hopfield' ? 'hard-sigmoid' : 'ernoult-sigmoid', form, cost: 'mse', init: 'glorot' },
    new Rng(seed),
  );
  // stronger weights than Glorot so the relaxation has something to do
  for (const p of Object.values(net.params)) p.assign(tf.mul(p, 2));
  const x = tf.randomUniform([batch, sizes[0]], 0, 1, 'float32', seed);
  const labels = Array.from({ length: batch }, (_, i) => i % sizes[sizes.length - 1]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), sizes[sizes.length - 1]).toFloat();
  return { net, x, y };
}

/** max |a − b| / max |b| over all layers. */
function stateGap(a: State, b: State): number {
  a.forEach((t, i) => expect(t.shape).toEqual(b[i].shape));
  const flat = (s: State) => s.flatMap((t) => Array.from(t.dataSync()));
  return relGap(flat(a), flat(b));
}

const dispose = (...states: State[]) => states.forEach((s) => s.forEach((t) => t.dispose()));

describe('FusedFixedPoint gives the states of FixedPoint, on one thread and on two alike', () => {
  it('the team has two threads here (worker threads and shared memory exist)', () => {
    expect(pair.threads).toBe(2);
  });

  const schedules: FixedPointSchedule[] = ['synchronous', 'alternating'];
  const variants: [string, FixedPointOptions][] = [
    ['undamped, nudge inside', {}],
    ['damped ε 0.4, nudge inside', { stepSize: 0.4 }],
    ['undamped, nudge outside', { nudge: 'outside' }],
    ['damped ε 0.5, nudge outside', { stepSize: 0.5, nudge: 'outside' }],
  ];
  // (a tolerance that a residual of one path meets and the other's misses by rounding would stop
  // them a check apart: these are not that close for these seeds; per example, 2e-5 was, for one
  // example of a nudged phase, once the tfjs step became matmul, add and σ instead of one fused op)
  const stops: [string, Omit<RelaxOptions, 'nudge'>, Omit<RelaxOptions, 'nudge'>][] = [
    ['fixed steps', { maxSteps: 30 }, { maxSteps: 10 }],
    ['a batch tolerance', { maxSteps: 200, tol: 2e-5 }, { maxSteps: 100, tol: 2e-5 }],
    ['a per-example tolerance', { maxSteps: 200, tol: 3e-5, perExample: true }, { maxSteps: 100, tol: 3e-5, perExample: true }],
  ];
  for (const form of ['primitive', 'hopfield'] as const) {
    for (const schedule of schedules) {
      for (const [vname, vopts] of variants) {
        for (const [sname, free, nudged] of stops) {
          it(`${form}, ${schedule}, ${vname}, ${sname}: free and nudged phases`, () => {
            const { net, x, y } = setup(form);
            const before = tf.memory().numTensors;
            const bound = net.bind(x);
            const init = net.zeroState(7);
            const tfjs = new FixedPoint(schedule, vopts);
            const fused = new FusedFixedPoint(new FixedPoint(schedule, vopts), 'fused');
            const twin = new FusedFixedPoint(new FixedPoint(schedule, vopts), 'fused', pair); // rows 0–2 and 3–6 on two threads
            const a = fused.relax(bound, init, free);
            const b = tfjs.relax(bound, init, free);
            const a2 = twin.relax(bound, init, free);
            expect(stateGap(a.state, b.state)).toBeLessThan(1e-5);
            expect([a.steps, a.meanSteps, a.converged]).toEqual([b.steps, b.meanSteps, b.converged]);
            expect(values(a2.state)).toEqual(values(a.state));
            expect([a2.steps, a2.meanSteps, a2.converged, a2.residual]).toEqual([a.steps, a.meanSteps, a.converged, a.residual]);
            const an = fused.relax(bound, a.state, { ...nudged, nudge: { beta: 0.5, y } });
            const bn = tfjs.relax(bound, b.state, { ...nudged, nudge: { beta: 0.5, y } });
            const an2 = twin.relax(bound, a.state, { ...nudged, nudge: { beta: 0.5, y } });
            expect(stateGap(an.state, bn.state)).toBeLessThan(1e-5);
            expect([an.steps, an.meanSteps]).toEqual([bn.steps, bn.meanSteps]);
            expect(values(an2.state)).toEqual(values(an.state));
            expect([an2.steps, an2.meanSteps, an2.converged, an2.residual]).toEqual([an.steps, an.meanSteps, an.converged, an.residual]);
            dispose(a2.state, an2.state);
            // the nudge moved the state: the comparison is of a nudged phase, not of a copy
            expect(stateGap(an.state, a.state)).toBeGreaterThan(1e-3);
            // EP's weight gradients from both paths' equilibria
            const ga = bound.paramGradsDiff(an.state, a.state, 2);
            const gb = bound.paramGradsDiff(bn.state, b.state, 2);
            for (const k of Object.keys(gb)) expect(stateGap([ga[k]], [gb[k]])).toBeLessThan(1e-4);
            tf.dispose([...Object.values(ga), ...Object.values(gb)]);
            dispose(a.state, an.state, b.state, bn.state, init);
            bound.dispose();
            expect(tf.memory().numTensors).toBe(before);
          });
        }
      }
    }
  }

  it('reports the residual and steps of a batch stop as FixedPoint does', () => {
    const { net, x } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(7);
    const opts = { maxSteps: 300, tol: 1e-6, checkEvery: 3 };
    const a = new FusedFixedPoint(new FixedPoint('alternating'), 'fused').relax(bound, init, opts);
    const b = new FixedPoint('alternating').relax(bound, init, opts);
    expect(a.steps % 3).toBe(0);
    expect(a.steps).toBe(b.steps);
    expect(a.residual).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(a.residual - b.residual)).toBeLessThan(1e-7);
    dispose(a.state, b.state, init);
    bound.dispose();
  });
});

describe('FusedFixedPoint falls back to tfjs ops where it does not apply', () => {
  it('auto relaxes a network with a cross-entropy readout by the fallback; fused refuses it in one line', () => {
    const net = layeredMlp({ kind: 'mlp', sizes: [20, 16, 8], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'ce', init: 'glorot' }, new Rng(1));
    const x = tf.randomUniform([4, 20], 0, 1, 'float32', 2);
    const bound = net.bind(x);
    const init = net.zeroState(4);
    const auto = new FusedFixedPoint(new FixedPoint('synchronous'), 'auto');
    expect(auto.unfusedReason(bound)).toMatch(/cost ce-readout/);
    const a = auto.relax(bound, init, { maxSteps: 5 });
    const b = new FixedPoint('synchronous').relax(bound, init, { maxSteps: 5 });
    expect(stateGap(a.state, b.state)).toBe(0);
    const fused = new FusedFixedPoint(new FixedPoint('synchronous'), 'fused');
    expect(() => fused.relax(bound, init, { maxSteps: 5 })).toThrow(ConfigError);
    expect(() => fused.relax(bound, init, { maxSteps: 5 })).toThrow(/cannot relax this network: cost ce-readout/);
    dispose(a.state, b.state, init);
    bound.dispose();
  });

  it('hands an energy trace to the fallback', () => {
    const { net, x } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(7);
    const r = new FusedFixedPoint(new FixedPoint('synchronous'), 'auto').relax(bound, init, { maxSteps: 4, trace: true });
    expect(r.trace).toHaveLength(5);
    dispose(r.state, init);
    bound.dispose();
  });
});
