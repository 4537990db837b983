import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../args.js';
import { resolveConfig, TRAIN_OPTIONS } from './train.js';

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
    expect(() => resolveConfig({ preset: 'scellier2017-1h', 'persistent-eval': true, 'no-persistent-eval': true })).toThrow(
      /--persistent-eval or --no-persistent-eval, not both/,
    );
  });
});

describe('--dropout', () => {
  it('sets model.dropout (one rate per layer, input first), with or without --layers', () => {
    expect(resolveConfig({ preset: 'laborieux2021-mlp', dropout: '0.2,0.3,0' }).model).toMatchObject({ sizes: [784, 512, 10], dropout: [0.2, 0.3, 0] });
    expect(resolveConfig({ preset: 'laborieux2021-mlp', layers: '784,64,10', dropout: '0,0.5,0' }).model).toMatchObject({
      sizes: [784, 64, 10],
      dropout: [0, 0.5, 0],
    });
    expect(resolveConfig({ preset: 'laborieux2021-mlp' }).model.dropout).toBeUndefined();
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', dropout: '0.2,x' })).toThrow('--dropout expects a comma-separated list of numbers, got "0.2,x"');
  });
});

describe('--kernels', () => {
  it('chooses the fused path, tfjs ops or auto, and names a bad value with its flag', () => {
    expect(resolveConfig({ preset: 'laborieux2021-mlp', kernels: 'fused' }).kernels).toBe('fused');
    expect(resolveConfig({ preset: 'laborieux2021-mlp', kernels: 'auto' }).kernels).toBe('auto');
    expect(resolveConfig({ preset: 'laborieux2021-mlp' }).kernels).toBeUndefined();
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', kernels: 'simd' })).toThrow(
      /"kernels" \(--kernels\): expected one of fused, tfjs, auto, got "simd"/,
    );
  });
});

describe('--kernel-threads', () => {
  it("sets the fused kernels' thread count, and refuses what is not one in one line naming the flag", () => {
    expect(resolveConfig({ preset: 'laborieux2021-mlp', kernels: 'auto', 'kernel-threads': '2' }).kernelThreads).toBe(2);
    expect(resolveConfig({ preset: 'laborieux2021-mlp', kernels: 'auto', 'kernel-threads': '1' }).kernelThreads).toBe(1);
    expect(resolveConfig({ preset: 'laborieux2021-mlp' }).kernelThreads).toBeUndefined();
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'kernel-threads': '1.5' })).toThrow(
      /^config field "kernelThreads" \(--kernel-threads\): must be an integer, got 1\.5$/,
    );
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'kernel-threads': '0' })).toThrow(
      /^config field "kernelThreads" \(--kernel-threads\): .*> 0.*, got 0$/,
    );
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'kernel-threads': '65' })).toThrow(
      /^config field "kernelThreads" \(--kernel-threads\): .*64.*, got 65$/,
    );
  });
});

describe('negative numbers on the command line', () => {
  // every flag that takes a number; `--layers` is checked with the model (its sizes together)
  const NUMERIC = [
    'epochs',
    'batch-size',
    'seed',
    'beta',
    'lr',
    'free-steps',
    'nudged-steps',
    'eval-steps',
    'tol',
    'step-size',
    'train-limit',
    'test-limit',
    'validation',
    'max-batches',
    'checkpoint-every',
    'checkpoint-every-batches',
    'workers',
    'kernel-threads',
  ];
  const OTHER = [
    'preset',
    'config',
    'resume',
    'backend',
    'layers',
    'dropout',
    'estimator',
    'optimizer',
    'lr-schedule',
    'nudge-at',
    'solver',
    'schedule',
    'data-dir',
    'out',
    'algorithm',
    'db',
    'seeds',
    'kernels',
    'points',
  ];

  it('every flag that takes a value is classified here (a new one must be added to a list)', () => {
    const valued = Object.entries(TRAIN_OPTIONS).flatMap(([k, o]) => (o.type === 'string' ? [k] : []));
    expect([...valued].sort()).toEqual([...NUMERIC, ...OTHER].sort());
  });

  it('are the value of the flag before them (`--lr -1` as `--lr=-1`), not an "ambiguous" parse error', () => {
    for (const flag of [...NUMERIC, 'layers']) {
      for (const v of ['-1', '-0.5', '-.5', '-1e-3', '-1,2'])
        expect(parseFlags([`--${flag}`, v, '--quiet'], TRAIN_OPTIONS)).toEqual({ [flag]: v, quiet: true });
    }
    // a dash followed by a letter is still an option
    expect(() => parseFlags(['--lr', '--quiet'], TRAIN_OPTIONS)).toThrow(ConfigError);
  });

  it.each(NUMERIC)('--%s -1 is refused in one line naming the flag, the value and what it accepts', (flag) => {
    let message = '';
    try {
      resolveConfig(parseFlags(['--preset', 'scellier2017-1h', `--${flag}`, '-1'], TRAIN_OPTIONS));
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toMatch(new RegExp(`^config field "[\\w.]+" \\(--${flag}\\): .*must be (≥|>) 0.*, got -1$`));
  });

  it("--points names holomorphic EP's option and what it accepts", () => {
    const holo = ['--preset', 'ernoult2019-p1h', '--estimator', 'holomorphic'];
    expect(resolveConfig(parseFlags([...holo, '--points', '4'], TRAIN_OPTIONS)).trainer.estimatorOptions).toEqual({ points: 4 });
    expect(() => resolveConfig(parseFlags([...holo, '--points', '1'], TRAIN_OPTIONS))).toThrow(
      /^config field "trainer\.estimatorOptions\.points" \(--points\): .*2.*, got 1$/,
    );
  });

  it('say what a learning rate and β accept', () => {
    expect(() => resolveConfig(parseFlags(['--lr', '0.1,-0.05'], TRAIN_OPTIONS))).toThrow(
      'config field "trainer.optimizer.lrs.1" (--lr): a learning rate must be ≥ 0 (0 freezes its layer), got -0.05',
    );
    expect(() => resolveConfig(parseFlags(['--beta', '-0.5'], TRAIN_OPTIONS))).toThrow(
      'config field "trainer.beta" (--beta): β must be > 0 (the estimator chooses the sign), got -0.5',
    );
    expect(() => resolveConfig({ preset: 'scellier2017-1h', seed: '1.5' })).toThrow('config field "seed" (--seed): must be an integer, got 1.5');
    // a bad value from a config file names the field only
    const file = join(mkdtempSync(join(tmpdir(), 'eqprop-cfg-')), 'config.json');
    writeFileSync(file, JSON.stringify({ trainer: { beta: -2 } }));
    expect(() => resolveConfig({ config: file })).toThrow(/^config field "trainer\.beta": β must be > 0 \(the estimator chooses the sign\), got -2$/);
  });
});
