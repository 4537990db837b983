import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@eqprop/core';
import { ContinualTrainer } from '@eqprop/learning';
import { describe, expect, it } from 'vitest';
import { mergeConfig, validateConfig } from '../config.js';
import { RunDir } from '../run-dir.js';
import { createSession, evaluate, trainRun } from '../training-run.js';
import { getPreset } from './index.js';

// `eqprop train --preset ernoult2020-cep` end to end on a slice of MNIST (a narrower hidden layer
// and fewer free steps than the preset's, for time): the run config's algorithm picks C-EP's trainer
const small = (more: object = {}) =>
  validateConfig(
    mergeConfig(getPreset('ernoult2020-cep'), {
      epochs: 1,
      model: { sizes: [784, 128, 10] },
      trainer: { freeSteps: 20 },
      data: { trainLimit: 3000, testLimit: 300 },
      evalBatchSize: 300,
      ...more,
    }),
  );

describe('ernoult2020-cep: --algorithm cep', () => {
  it('trains with the continual trainer, checkpoints, and leaks nothing', async () => {
    const session = await createSession(small());
    expect(session.trainer).toBeInstanceOf(ContinualTrainer);
    const before = (await evaluate(session, session.test)).error;
    const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-cep-')));
    runDir.writeJson('config.json', session.config);
    const tensors = tf.memory().numTensors;
    const history = await trainRun(session, { runDir, resume: false, quiet: true, log: () => {} });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(before).toBeGreaterThan(0.7);
    expect(history[0].testError).toBeLessThan(before - 0.2);
    expect(runDir.has('checkpoint.json')).toBe(true);
  }, 120_000);

  it('refuses worker threads and the fused kernels in one line', async () => {
    await expect(createSession(small({ workers: 2 }))).rejects.toThrow(/--workers applies to EP only: continual EP/);
    await expect(createSession(small({ kernels: 'fused' }))).rejects.toThrow(/--kernels fused applies to EP: continual EP/);
  });
});
