import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@eqprop/core';
import { loadMnist, synthetic } from '@eqprop/datasets';
import {
  BEST_PARAMS_FILE,
  type Checkpoint,
  checkAgainstData,
  createSession,
  evaluate,
  getPreset,
  mergeConfig,
  RunDir,
  resolveWorkers,
  type Session,
  trainRun,
  validateConfig,
} from '@eqprop/experiments';
import { loadParams } from '@eqprop/models';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from './commands/train.js';

/** Flags of a tiny real run on the bundled MNIST: a 784-30-10 net, a few relaxation steps, batches of 10. */
const TINY = { layers: '784,30,10', 'free-steps': '5', 'nudged-steps': '2', 'test-limit': '20', 'batch-size': '10' };

/** Blocks the thread for `ms` (a batch that lasts at least that long). */
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Calls `before('batch')` ahead of every training batch of the session and `before('eval')` ahead
 * of every evaluation (the loop runs both on the main thread for an MLP).
 */
function observe(session: Session, before: (what: 'batch' | 'eval') => void): void {
  const { trainer } = session;
  const trainBatch = trainer.trainBatchAsync.bind(trainer);
  const evaluate = trainer.evaluateAsync.bind(trainer);
  trainer.trainBatchAsync = (...args) => {
    before('batch');
    return trainBatch(...args);
  };
  trainer.evaluateAsync = (...args) => {
    before('eval');
    return evaluate(...args);
  };
}

/** A tiny run through trainRun, `before` called ahead of every batch and evaluation. */
async function tinyRun(flags: Record<string, string>, before: (runDir: RunDir, what: 'batch' | 'eval') => void): Promise<RunDir> {
  const session = await createSession(resolveConfig({ preset: 'scellier2017-1h', ...TINY, ...flags }));
  const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-loop-')));
  runDir.writeJson('config.json', session.config);
  observe(session, (what) => before(runDir, what));
  await trainRun(session, { runDir, resume: false, quiet: true, log: () => {} });
  return runDir;
}

const readCheckpoint = (runDir: RunDir): Checkpoint | undefined =>
  existsSync(runDir.file('checkpoint.json')) ? JSON.parse(readFileSync(runDir.file('checkpoint.json'), 'utf8')) : undefined;

describe('training on real MNIST', () => {
  it('a short EP run reduces the test error and writes its run folder', async () => {
    const config = validateConfig(mergeConfig(getPreset('laborieux2021-mlp'), { epochs: 1, data: { trainLimit: 3000, testLimit: 1000 }, evalBatchSize: 500 }));
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
    // the other convolutional kinds too: vector-field convnets and the Hopfield-ResNet
    for (const preset of ['laborieux2021-vf-cifar10', 'hopfield-resnet13-cifar10']) {
      const c = cfg(preset);
      expect(resolveWorkers(c)).toBe(Math.min(availableParallelism(), Math.floor(c.batchSize / 5)));
    }
    expect(resolveWorkers(cfg('laborieux2021-mlp'))).toBe(1);
    expect(resolveWorkers(cfg('ernoult2019-p1h', { algorithm: 'bptt' }))).toBe(1);
    expect(resolveWorkers(cfg('laborieux2021-mlp', { workers: 3 }))).toBe(3);
    expect(resolveWorkers(cfg('ernoult2019-conv', { workers: 1 }))).toBe(1);
  });
});

describe('--checkpoint-every SECONDS', () => {
  // Every batch lasts at least 20 ms; before each batch and before the evaluation that ends the
  // epoch the test reads checkpoint.json, so it sees every checkpoint the loop writes (at most one
  // between two batches, or between the last batch and the evaluation).
  async function checkpointsOf(flags: Record<string, string>): Promise<{ seen: Checkpoint[]; last: Checkpoint }> {
    const seen: Checkpoint[] = [];
    const runDir = await tinyRun({ 'train-limit': '400', epochs: '1', ...flags }, (dir, what) => {
      const ck = readCheckpoint(dir);
      if (ck && ck.seq !== seen.at(-1)?.seq) seen.push(ck);
      if (what === 'batch') sleep(20);
    });
    const last = readCheckpoint(runDir)!;
    // seq counts the checkpoints written: none was missed
    expect([...seen, last].map((c) => c.seq)).toEqual(Array.from({ length: seen.length + 1 }, (_, k) => k + 1));
    return { seen, last };
  }

  it('writes a mid-epoch checkpoint at the first batch after each interval, never sooner', async () => {
    const { seen, last } = await checkpointsOf({ 'checkpoint-every': '0.1' });
    expect(seen.length).toBeGreaterThanOrEqual(2); // the epoch (40 batches, ≥ 0.8 s) spans several intervals
    let prev = { batch: 0, seconds: 0 };
    for (const ck of seen) {
      expect([ck.epoch, ck.batch]).toEqual([0, ck.partial.batches]); // mid-epoch
      // not before the interval has passed since the previous checkpoint (or the epoch's start) ...
      expect(ck.partial.seconds - prev.seconds).toBeGreaterThan(0.1);
      // ... and not later than the batch that passes it: 6 batches of ≥ 20 ms are past 0.1 s
      expect(ck.batch - prev.batch).toBeGreaterThanOrEqual(1);
      expect(ck.batch - prev.batch).toBeLessThanOrEqual(6);
      prev = { batch: ck.batch, seconds: ck.partial.seconds };
    }
    expect(40 - prev.batch).toBeLessThanOrEqual(6);
    expect([last.epoch, last.batch]).toEqual([1, 0]); // and the one at the end of the epoch
  });

  it('without it (60 s by default) a short epoch writes only its end-of-epoch checkpoint', async () => {
    const { seen, last } = await checkpointsOf({});
    expect(seen).toEqual([]);
    expect([last.seq, last.epoch, last.batch]).toEqual([1, 1, 0]);
  });
});

describe('tensors of the training loop', () => {
  // Persistent particles and test particles (scellier2017), Adam with its moment slots and the
  // fixed-point solver (laborieux2021-mlp): the count of live tensors at the start of every batch
  // is the same over batches and epochs (evaluations between them included), and after the run.
  it.each([
    ['scellier2017-1h', 3], // validation, test from the particles, test from zero
    ['laborieux2021-mlp', 2], // validation, test
  ] as const)('%s: tf.memory().numTensors stays flat over 3 epochs of 8 batches', async (preset, evalsPerEpoch) => {
    const counts: Record<'batch' | 'eval', number[]> = { batch: [], eval: [] };
    await tinyRun({ preset, 'train-limit': '80', epochs: '3', validation: '20' }, (_, what) => counts[what].push(tf.memory().numTensors));
    expect(counts.batch).toHaveLength(24);
    // a batch's x and y are live during its step: two more than between batches
    expect(new Set(counts.batch)).toEqual(new Set([counts.batch[0]]));
    expect(counts.eval).toHaveLength(3 * evalsPerEpoch);
    expect(new Set(counts.eval)).toEqual(new Set([counts.batch[0] - 2]));
    expect(tf.memory().numTensors).toBe(counts.batch[0] - 2);
  });
});

describe('the config against the data', () => {
  const data = synthetic({ count: 30, inputSize: 12, numClasses: 3, seed: 1 });
  const config = (more: object) => validateConfig(mergeConfig(getPreset('scellier2017-1h'), more));
  it('refuses a first layer or an input shape that is not the data’s, and a batch larger than the training set', () => {
    expect(() => checkAgainstData(config({ model: { sizes: [12, 5, 3] }, batchSize: 30 }), data)).not.toThrow();
    expect(() => checkAgainstData(config({ model: { sizes: [784, 5, 3] }, batchSize: 10 }), data)).toThrow(
      `the data has 12 inputs (${data.name}, ${data.exampleShape.join('×')}), the network 784: the first layer size (--layers) must be 12`,
    );
    const conv = { kind: 'conv', inputShape: [28, 28, 1] };
    expect(() => checkAgainstData({ ...config({ batchSize: 10 }), model: conv }, data)).toThrow(
      /the data has examples of shape 12 .*the network an input of shape 28×28×1/,
    );
    expect(() => checkAgainstData(config({ model: { sizes: [12, 5, 3] }, batchSize: 31 }), data)).toThrow(
      'the batch size 31 (--batch-size) is larger than the training set of 30 examples: an epoch would hold no full batch',
    );
  });
});
