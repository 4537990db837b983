import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@eqprop/core';
import { loadMnist } from '@eqprop/datasets';
import { loadParams } from '@eqprop/models';
import { getPreset } from './presets/index.js';
import { mergeConfig, validateConfig } from './config.js';
import { createSession, evaluate, resolveWorkers, trainRun, BEST_PARAMS_FILE } from './training-run.js';
import { RunDir } from './run-dir.js';

describe('training on real MNIST', () => {
  it('a short EP run reduces the test error and writes its run folder', async () => {
    const config = validateConfig(
      mergeConfig(getPreset('laborieux2021-mlp'), { epochs: 1, data: { trainLimit: 3000, testLimit: 1000 }, evalBatchSize: 500 }),
    );
    const session = await createSession(config);
    const before = (await evaluate(session, session.test)).error;
    const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-run-')));
    runDir.writeJson('config.json', config);
    const tensors = tf.memory().numTensors;
    const history = await trainRun(session, { runDir, resume: false, quiet: true, log: () => {} });
    expect(tf.memory().numTensors).toBe(tensors);
    const after = history[0].testError;
    expect(before).toBeGreaterThan(0.6);
    expect(after).toBeLessThan(0.2);
    const lines = readFileSync(runDir.file('metrics.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]).testError).toBeCloseTo(after, 6);
    expect(runDir.has('checkpoint.json')).toBe(true);
  });
});

describe('a validation set held out of the training set', () => {
  it('is the last training images, evaluated every epoch; best-params.json holds the epoch of lowest validation error', async () => {
    const config = validateConfig(
      mergeConfig(getPreset('laborieux2021-mlp'), { epochs: 3, data: { trainLimit: 1000, testLimit: 300, validation: 400 }, evalBatchSize: 200 }),
    );
    const session = await createSession(config);
    const full = await loadMnist({ split: 'train' });
    expect([session.train.count, session.valid?.count]).toEqual([1000, 400]);
    expect(Array.from(session.valid!.labels)).toEqual(Array.from(full.labels.subarray(59600)));
    expect(Array.from(session.train.labels)).toEqual(Array.from(full.labels.subarray(0, 1000)));
    const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-valid-')));
    runDir.writeJson('config.json', config);
    const history = await trainRun(session, { runDir, resume: false, quiet: true, log: () => {} });
    const valid = history.map((m) => m.validError!);
    expect(valid.every((e) => e >= 0 && e < 1)).toBe(true);
    const best = JSON.parse(readFileSync(runDir.file(BEST_PARAMS_FILE), 'utf8'));
    expect(best.epoch).toBe(valid.indexOf(Math.min(...valid)) + 1);
    // its parameters give that epoch's validation error again
    loadParams(session.net.params, best.params);
    expect((await evaluate(session, session.valid!)).error).toBe(valid[best.epoch - 1]);
    expect(() => validateConfig(mergeConfig(getPreset('laborieux2021-mlp'), { data: { validation: 0 } }))).toThrow(/validation/);
  });
});

describe('data-parallel replicas by default', () => {
  const cfg = (preset: string, more: object = {}) => validateConfig(mergeConfig(getPreset(preset), more));
  it('one per core for a convnet (≥ 5 examples a share), one for an MLP or BPTT, --workers as given', () => {
    expect(resolveWorkers(cfg('laborieux2021-mnist'))).toBe(Math.min(availableParallelism(), 4));
    expect(resolveWorkers(cfg('laborieux2021-mnist', { batchSize: 8 }))).toBe(1);
    expect(resolveWorkers(cfg('laborieux2021-mlp'))).toBe(1);
    expect(resolveWorkers(cfg('ernoult2019-p1h', { algorithm: 'bptt' }))).toBe(1);
    expect(resolveWorkers(cfg('laborieux2021-mlp', { workers: 3 }))).toBe(3);
    expect(resolveWorkers(cfg('ernoult2019-conv', { workers: 1 }))).toBe(1);
  });
});
