import { Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BetaSweepSummary, betaSweepPoint, summariseBetaSweep } from './beta-sweep.js';
import { betaSweepPlots, formatBetaSweepTable } from './beta-sweep-plots.js';
import { findAll, parseXml, svgTexts } from './svg-xml.js';
import { logGrid } from './sweep-stats.js';

let summary: BetaSweepSummary;

beforeAll(async () => {
  await setupBackend('wasm');
  // a tiny prototypical network whose free phase converges to float32 precision
  const rng = new Rng(3);
  const net = layeredMlp({ kind: 'mlp', sizes: [6, 10, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' }, rng);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4).toFloat();
  const batches = [0, 1].map(() => ({ x: tf.tensor2d(rng.uniformArray(8 * 6, 0, 1), [8, 6]), y }));
  const solver = new FixedPoint('synchronous');
  const before = tf.memory().numTensors;
  const points = logGrid(1e-4, 1, 3).map((beta) => betaSweepPoint(net, batches, beta, { solver, freeSteps: 400, nudgedSteps: 250, signs: [1, -1] }));
  expect(tf.memory().numTensors).toBe(before);
  for (const p of points) for (const r of p.freeResidual) expect(r).toBeLessThan(1e-6);
  summary = summariseBetaSweep(points.reverse());
});

describe('the β sweep on a tiny converged network', () => {
  it('one-sided nudging has an O(β) error: log-log slope 1 ± 0.2', () => {
    const e = summary.estimators.find((s) => s.estimator === 'one-sided')!;
    expect(e.fit, formatBetaSweepTable(summary)).not.toBeNull();
    expect(e.fit!.points).toBeGreaterThanOrEqual(3);
    expect(Math.abs(e.fit!.slope - 1), formatBetaSweepTable(summary)).toBeLessThanOrEqual(0.2);
  });

  it('symmetric nudging has an O(β²) error: log-log slope 2 ± 0.3', () => {
    const e = summary.estimators.find((s) => s.estimator === 'symmetric')!;
    expect(e.fit!.points).toBeGreaterThanOrEqual(3);
    expect(Math.abs(e.fit!.slope - 2), formatBetaSweepTable(summary)).toBeLessThanOrEqual(0.3);
  });

  it('float32 noise takes over at tiny β, later for the symmetric estimator, whose best β is larger and best error smaller', () => {
    const [one, sym, rs] = ['one-sided', 'symmetric', 'random-sign'].map((k) => summary.estimators.find((s) => s.estimator === k)!);
    expect(summary.betas[0]).toBeCloseTo(1e-4);
    expect(one.noiseOnset).not.toBeNull();
    expect(sym.noiseOnset!).toBeGreaterThan(one.noiseOnset!);
    expect(sym.best.relError).toBeLessThan(one.best.relError / 5);
    expect(sym.best.beta).toBeGreaterThan(one.best.beta);
    // below the onset the error grows again as β shrinks
    expect(one.relError[0].mean).toBeGreaterThan(one.best.relError);
    // random sign: one-sided with ±β, so the same O(β) size, and cosines near 1 at its best β
    expect(rs.fit!.slope).toBeGreaterThan(0.7);
    for (const e of [one, sym, rs]) expect(e.best.cosine).toBeGreaterThan(0.999);
  });

  it('plots the error on log-log axes with fits, spread, noise floor and onset, and the cosines', () => {
    const plots = betaSweepPlots(summary, { title: 'tiny net' });
    expect(plots.map((p) => p.name)).toEqual(['beta-sweep-error', 'beta-sweep-cosine']);
    const err = parseXml(plots[0].svg);
    expect(err.name).toBe('svg');
    const texts = svgTexts(err);
    expect(texts).toContain('tiny net: EP estimate vs true gradient (RBP)');
    expect(texts).toContain('β (nudging strength)');
    expect(texts).toContain('relative error ‖ĝ − ∇L‖ / ‖∇L‖');
    for (const t of ['one-sided (mean ± std)', 'symmetric (mean ± std)', 'random-sign (mean ± std)']) expect(texts).toContain(t);
    expect(texts.filter((t) => /^(one-sided|symmetric|random-sign) fit: slope \d\.\d\d$/.test(t))).toHaveLength(3);
    expect(texts.some((t) => t.startsWith('float32 noise floor n/β'))).toBe(true);
    expect(texts.some((t) => t.includes('float32 noise ≤ here'))).toBe(true);
    // decade ticks on both axes: 1e-4 … 1 on x
    for (const t of ['1e-4', '1e-3', '0.01', '0.1', '1']) expect(texts).toContain(t);
    // 3 bands + 3 means + 3 fits + the noise floor
    expect(findAll(err, 'path')).toHaveLength(10);
    expect(findAll(err, 'path').filter((p) => p.attrs['fill-opacity'])).toHaveLength(3);
    const cos = parseXml(plots[1].svg);
    expect(svgTexts(cos)).toContain('cos(ĝ, ∇L)');
    expect(findAll(cos, 'circle').length).toBe(3 * summary.betas.length + 3);
  });

  it('tabulates the β minimising the error for each estimator', () => {
    const table = formatBetaSweepTable(summary);
    expect(table.split('\n')).toHaveLength(5);
    expect(table).toMatch(/^\| estimator \| β minimising the error/);
    expect(table).toMatch(/\| symmetric \| \d\.\d\de-\d /);
  });
});

describe('a β sweep of several registered estimators on the same network, in one plot', () => {
  it('five-phase and holomorphic-N fit slopes ≈ 4 and ≈ N where float32 allows, drawn beside the seed estimators', () => {
    const rng = new Rng(3);
    const net = layeredMlp({ kind: 'mlp', sizes: [6, 10, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' }, rng);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4).toFloat();
    const batches = [0, 1].map(() => ({ x: tf.tensor2d(rng.uniformArray(8 * 6, 0, 1), [8, 6]), y }));
    const estimators = ['symmetric', 'five-phase', 'holomorphic-3', 'holomorphic-4'];
    const before = tf.memory().numTensors;
    // β from 0.05 to 0.4: above the float32 floor for the fourth-order estimators, in their asymptotic regime
    const points = logGrid(0.05, 0.4, 6).map((beta) =>
      betaSweepPoint(net, batches, beta, { solver: new FixedPoint('synchronous'), freeSteps: 400, nudgedSteps: 250, estimators }),
    );
    expect(tf.memory().numTensors).toBe(before);
    const sweep = summariseBetaSweep(points, { fitMax: 0.4 });
    const table = formatBetaSweepTable(sweep);
    expect(sweep.estimators.map((e) => e.estimator)).toEqual(estimators);
    const fit = (name: string) => sweep.estimators.find((e) => e.estimator === name)!.fit!;
    expect(Math.abs(fit('symmetric').slope - 2), table).toBeLessThan(0.3);
    expect(Math.abs(fit('holomorphic-3').slope - 3), table).toBeLessThan(0.4);
    expect(Math.abs(fit('five-phase').slope - 4), table).toBeLessThan(0.5);
    expect(Math.abs(fit('holomorphic-4').slope - 4), table).toBeLessThan(0.5);
    const texts = svgTexts(parseXml(betaSweepPlots(sweep, { title: 'estimators' })[0].svg));
    for (const e of estimators) expect(texts).toContain(`${e} (mean ± std)`);
    expect(() => betaSweepPoint(net, batches, 0.1, { solver: new FixedPoint('synchronous'), freeSteps: 5, nudgedSteps: 5, estimators: ['fivephase'] })).toThrow(
      /^unknown estimator "fivephase": expected one of one-sided, /,
    );
    tf.dispose([y, ...batches.map((b) => b.x)]);
  });
});
