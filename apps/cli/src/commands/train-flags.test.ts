import { describe, it, expect } from 'vitest';
import { resolveConfig } from './train.js';

describe('solver flags of eqprop train', () => {
  it('switch a gradient-descent preset to the fixed point without carrying its step size', () => {
    const c = resolveConfig({ preset: 'scellier2017-1h', schedule: 'alternating' });
    expect(c.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'alternating' });
  });

  it('damp the fixed point and move the nudge outside σ, keeping the preset’s schedule', () => {
    const c = resolveConfig({ preset: 'laborieux2021-mlp', 'step-size': '0.2', 'nudge-at': 'outside' });
    expect(c.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'synchronous', stepSize: 0.2, nudge: 'outside' });
    const again = resolveConfig({ preset: 'laborieux2021-mlp', 'step-size': '0.2', schedule: 'alternating' });
    expect(again.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'alternating', stepSize: 0.2 });
  });

  it('switch to gradient descent with its default step', () => {
    expect(resolveConfig({ preset: 'laborieux2021-mlp', solver: 'gradient-descent' }).trainer.solver).toEqual({ kind: 'gradient-descent', stepSize: 0.5 });
  });

  it('name a bad value and what is expected', () => {
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'nudge-at': 'above' })).toThrow(/nudge/);
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'step-size': '1.5' })).toThrow(/stepSize/);
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', solver: 'newton' })).toThrow(/--solver must be gradient-descent or fixed-point, got "newton"/);
    expect(() => resolveConfig({ preset: 'scellier2017-1h', solver: 'gradient-descent', 'nudge-at': 'outside' })).toThrow(/fixed-point solver only/);
  });
});

describe('other trainer flags', () => {
  it('--tol-per-example applies --tol to each example', () => {
    expect(resolveConfig({ preset: 'ernoult2019-conv', tol: '1e-5', 'tol-per-example': true }).trainer).toMatchObject({ tol: 1e-5, tolPerExample: true });
    expect(resolveConfig({ preset: 'ernoult2019-conv', tol: '1e-5' }).trainer.tolPerExample).toBeUndefined();
    // stops predicted from each example's decay unless --no-predict-stops (every 5 steps)
    expect(resolveConfig({ preset: 'ernoult2019-conv', tol: '1e-5', 'tol-per-example': true }).trainer.predictStops).toBeUndefined();
    expect(resolveConfig({ preset: 'ernoult2019-conv', tol: '1e-5', 'tol-per-example': true, 'no-predict-stops': true }).trainer.predictStops).toBe(false);
  });

  it('--lr-schedule sets the schedule and names a bad one', () => {
    expect(resolveConfig({ preset: 'ernoult2019-p1h', 'lr-schedule': 'cosine' }).lrSchedule).toBe('cosine');
    expect(() => resolveConfig({ preset: 'ernoult2019-p1h', 'lr-schedule': 'step' })).toThrow(/lrSchedule/);
  });

  it('--validation N holds out the last N training examples', () => {
    expect(resolveConfig({ preset: 'scellier2017-1h', validation: '10000' }).data.validation).toBe(10000);
    expect(resolveConfig({ preset: 'scellier2017-1h' }).data.validation).toBeUndefined();
    expect(() => resolveConfig({ preset: 'scellier2017-1h', validation: '-5' })).toThrow(/validation/);
  });

  it('--persistent-eval and --no-persistent-eval switch the test particles (on in the Scellier presets)', () => {
    expect(resolveConfig({ preset: 'scellier2017-1h' }).trainer.persistentEval).toBe(true);
    expect(resolveConfig({ preset: 'scellier2017-1h', 'no-persistent-eval': true }).trainer.persistentEval).toBe(false);
    expect(resolveConfig({ preset: 'laborieux2021-mlp' }).trainer.persistentEval).toBeUndefined();
    expect(resolveConfig({ preset: 'laborieux2021-mlp', 'persistent-eval': true }).trainer.persistentEval).toBe(true);
    expect(() => resolveConfig({ preset: 'scellier2017-1h', 'persistent-eval': true, 'no-persistent-eval': true })).toThrow(/--persistent-eval or --no-persistent-eval, not both/);
  });
});
