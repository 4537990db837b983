import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { BpttTrainer } from './bptt-trainer.js';
import { mergeConfig, validateConfig } from './config.js';
import { getPreset } from './presets/index.js';
import { RunDir } from './run-dir.js';
import { createSession, evaluate, trainRun } from './training-run.js';

const small = (algorithm: 'ep' | 'bptt', more: object = {}) =>
  validateConfig(
    mergeConfig(getPreset('ernoult2019-p1h'), {
      algorithm,
      epochs: 1,
      maxBatches: 40,
      workers: 1,
      data: { trainLimit: 1000, testLimit: 500 },
      evalBatchSize: 500,
      ...more,
    }),
  );

describe('--algorithm bptt', () => {
  it('starts from the same weights as EP and trains the p1h network', async () => {
    const ep = await createSession(small('ep'));
    const bptt = await createSession(small('bptt'));
    expect(bptt.trainer).toBeInstanceOf(BpttTrainer);
    expect(ep.trainer).not.toBeInstanceOf(BpttTrainer);
    for (const [name, p] of Object.entries(ep.net.params)) {
      expect(Array.from(bptt.net.params[name].dataSync()), name).toEqual(Array.from(p.dataSync()));
    }
    const before = (await evaluate(bptt, bptt.test)).error;
    const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-bptt-')));
    runDir.writeJson('config.json', bptt.config);
    const tensors = tf.memory().numTensors;
    const history = await trainRun(bptt, { runDir, resume: false, quiet: true, log: () => {} });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(before).toBeGreaterThan(0.6);
    expect(history[0].testError).toBeLessThan(before - 0.2);
    expect(runDir.has('checkpoint.json')).toBe(true);
  });

  it('refuses worker threads (the replicas compute EP)', async () => {
    await expect(createSession(small('bptt', { workers: 2 }))).rejects.toThrow(/--workers applies to EP only/);
  });
});
