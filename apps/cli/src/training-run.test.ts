import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@eqprop/core';
import { getPreset } from './presets/index.js';
import { mergeConfig, validateConfig } from './config.js';
import { createSession, evaluate, trainRun } from './training-run.js';
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
