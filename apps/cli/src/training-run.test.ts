import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@eqprop/core';
import { getPreset } from './presets/index.js';
import { mergeConfig, validateConfig } from './config.js';
import { createSession, evaluate, resolveWorkers, trainRun } from './training-run.js';
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
