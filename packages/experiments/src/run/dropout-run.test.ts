import { describe, expect, it } from 'vitest';
import { mergeConfig, type RunConfig, validateConfig } from './config.js';
import { getPreset } from './presets/index.js';
import { createSession, resolveWorkers } from './training-run.js';

const withDropout = (more: object = {}): RunConfig =>
  validateConfig(
    mergeConfig(getPreset('ernoult2019-p1h'), {
      epochs: 1,
      data: { trainLimit: 100, testLimit: 50 },
      evalBatchSize: 50,
      model: { dropout: [0.2, 0.3, 0] },
      ...more,
    }),
  );

describe('a run with model.dropout', () => {
  it('trains on one thread (its masks come from the one trainer’s Rng) and only with EP’s trainer', async () => {
    // a convnet would default to one replica per core: with dropout, one
    const conv = validateConfig(mergeConfig(getPreset('laborieux2021-mnist'), { model: { dropout: [0, 0.1, 0] } }));
    expect(resolveWorkers(conv)).toBe(1);
    const session = await createSession(withDropout());
    expect(session.net.dropout).toEqual([0.2, 0.3, 0]);
    await expect(createSession(withDropout({ workers: 2 }))).rejects.toThrow(
      "model.dropout draws its masks from one trainer's Rng: it trains on one thread, not 2 replicas (--workers 1)",
    );
    await expect(createSession(withDropout({ algorithm: 'bptt' }))).rejects.toThrow(
      'model.dropout is applied by the EP trainer: --algorithm bptt would train without it',
    );
    session.trainer.dispose();
  });
});
