import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent, type Solver } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type GduResult, gduCheck } from './gdu.js';
import { gduPlots } from './gdu-plots.js';
import { formatGduTable, gduStats } from './gdu-stats.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

/** A 10-20-5 network with random weights (fan-in init) and a random batch of 8. */
function problem(form: 'primitive' | 'hopfield', seed = 5) {
  const rng = new Rng(seed);
  const net = layeredMlp({ kind: 'mlp', sizes: [10, 20, 5], activation: 'ernoult-sigmoid', form, cost: 'mse', init: 'fan-in' }, rng);
  const x = tf.tensor2d(rng.uniformArray(8 * 10, 0, 1), [8, 10]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], 'int32'), 5).toFloat();
  return { net, x, y };
}

function run(form: 'primitive' | 'hopfield', solver: Solver, freeSteps: number, nudgedSteps: number, beta: number): GduResult {
  const { net, x, y } = problem(form);
  return gduCheck(net, x, y, { solver, freeSteps, nudgedSteps, beta });
}

describe('the GDU check on a prototypical 10-20-5 network', () => {
  it('EP’s increments equal BPTT’s gradients step by step once the free phase has converged', () => {
    const { net, x, y } = problem('primitive');
    const before = tf.memory().numTensors;
    const r = gduCheck(net, x, y, { solver: new FixedPoint('synchronous'), freeSteps: 100, nudgedSteps: 10, beta: 0.001 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.freeResidual).toBeLessThan(1e-6);
    const stats = gduStats(r);
    expect(stats.map((s) => s.name)).toEqual(['s1', 'W0_1', 'b1', 's2', 'W1_2', 'b2']);
    for (const s of stats) {
      expect(s.components, s.name).toBe(s.total);
      expect(s.rmse, `${s.name}\n${formatGduTable(stats)}`).toBeLessThanOrEqual(0.02);
      expect(s.signAgreement, s.name).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('the same check fails when the free phase is cut short (T = K = 10)', () => {
    const r = run('primitive', new FixedPoint('synchronous'), 10, 10, 0.001);
    expect(r.freeResidual).toBeGreaterThan(1e-6);
    const stats = gduStats(r);
    const s1 = stats.find((s) => s.name === 's1')!;
    const w = stats.find((s) => s.name === 'W0_1')!;
    // the free dynamics' own motion, (s_{t+1} − s_t)/β, swamps the nudge
    expect(s1.rmse, formatGduTable(stats)).toBeGreaterThan(0.1);
    expect(w.rmse, formatGduTable(stats)).toBeGreaterThan(0.1);
  });

  it('the error of one-sided EP shrinks with β (it is O(β))', () => {
    const at = (beta: number) => Math.max(...gduStats(run('primitive', new FixedPoint('synchronous'), 100, 10, beta)).map((s) => s.rmse));
    const [big, small] = [at(0.01), at(0.001)];
    expect(big).toBeGreaterThan(0.02);
    expect(small).toBeLessThan(big / 4);
  });
});

describe('the GDU check on damped fixed-point dynamics s ← (1−ε)s + ε·σ(…), ε = 0.3', () => {
  it('is exact with the nudge inside σ', () => {
    const r = run('primitive', new FixedPoint('synchronous', { stepSize: 0.3 }), 300, 15, 0.001);
    expect(r.dt).toBe(1);
    for (const s of gduStats(r)) {
      expect(s.rmse, s.name).toBeLessThanOrEqual(0.02);
      expect(s.signAgreement, s.name).toBeGreaterThanOrEqual(0.99);
    }
  });
});

describe('the GDU check on the energy-based model (gradient descent, ε = 0.2)', () => {
  it('holds too, to the float32 precision of EP’s finite differences', () => {
    const r = run('hopfield', new GradientDescent(0.2), 300, 15, 0.003);
    expect(r.dt).toBe(0.2);
    for (const s of gduStats(r)) {
      expect(s.rmse, s.name).toBeLessThan(0.1);
      expect(s.signAgreement, s.name).toBeGreaterThanOrEqual(0.95);
    }
  });
});

describe('bad input gives a clear ConfigError', () => {
  let { net, x, y } = {} as ReturnType<typeof problem>;
  const solver = new FixedPoint('synchronous');
  beforeAll(() => {
    ({ net, x, y } = problem('primitive'));
  });

  it('names K and T when K > T', () => {
    expect(() => gduCheck(net, x, y, { solver, freeSteps: 10, nudgedSteps: 12, beta: 0.1 })).toThrow(ConfigError);
    expect(() => gduCheck(net, x, y, { solver, freeSteps: 10, nudgedSteps: 12, beta: 0.1 })).toThrow(/K = 12 .*T = 10/);
  });

  it('names β when it is 0 or not a number', () => {
    expect(() => gduCheck(net, x, y, { solver, freeSteps: 10, nudgedSteps: 5, beta: 0 })).toThrow(ConfigError);
    expect(() => gduCheck(net, x, y, { solver, freeSteps: 10, nudgedSteps: 5, beta: 0 })).toThrow(/β .*got 0/);
    expect(() => gduCheck(net, x, y, { solver, freeSteps: 10, nudgedSteps: 5, beta: Number.NaN })).toThrow(/got NaN/);
  });

  it('refuses a solver it cannot differentiate', () => {
    expect(() => gduCheck(net, x, y, { solver: new FixedPoint('alternating'), freeSteps: 10, nudgedSteps: 5, beta: 0.1 })).toThrow(/synchronous/);
  });

  it('names an unknown layer of a plot request and what exists', () => {
    const r = gduCheck(net, x, y, { solver, freeSteps: 20, nudgedSteps: 5, beta: 0.01 });
    expect(() => gduPlots(r, { layers: [7] })).toThrow(ConfigError);
    expect(() => gduPlots(r, { layers: ['7'] })).toThrow(/unknown layer "7".*1…2.*s1, W0_1, b1, s2, W1_2, b2/);
    expect(() => gduPlots(r, { layers: ['W9_9'] })).toThrow(/unknown layer "W9_9"/);
    expect(() => gduPlots(r, { count: 0 })).toThrow(/positive integer, got 0/);
  });
});

describe('GDU plots', () => {
  it('draw, per group, each chosen component as a solid BPTT line and a dashed EP line', () => {
    const r = run('primitive', new FixedPoint('synchronous'), 30, 8, 0.01);
    const plots = gduPlots(r, { layers: [1, 'W1_2'], count: 3 });
    expect(plots.map((p) => p.name)).toEqual(['gdu-s1', 'gdu-W0_1', 'gdu-b1', 'gdu-W1_2']);
    for (const p of plots) {
      expect(p.svg.startsWith('<svg')).toBe(true);
      expect(p.svg.match(/<path /g)?.length).toBe(6);
      expect(p.svg.match(/<path [^>]*stroke-dasharray/g)?.length).toBe(3);
      expect(p.svg).toContain('ΔEP');
      expect(p.svg).not.toContain('NaN');
    }
    expect(plots[1].svg).toMatch(/W0_1\[\d+,\d+\]/);
  });
});
