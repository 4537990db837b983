import { readFileSync } from 'node:fs';
import { tf, Rng, DataFormatError, setupBackend, type Batch, type RngState } from '@eqprop/core';
import { buildModel, loadParams, saveParams, type ModelConfig, type SavedParams } from '@eqprop/models';
import { Trainer, type BatchResult } from '@eqprop/learning';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
import { cpus } from 'node:os';
import { batches, numBatches, type Dataset } from '@eqprop/datasets';
import type { EnergyNetwork } from '@eqprop/energies';
import type { RunConfig } from './config.js';
import { loadData } from './data.js';
import { ProgressBar, formatTime } from './progress.js';
import { RunDir, atomicWrite } from './run-dir.js';

export interface EpochMetrics {
  epoch: number;
  trainError: number;
  trainLoss: number;
  testError: number;
  testLoss: number;
  seconds: number;
  meanFreeSteps: number;
}

interface Checkpoint {
  version: 1;
  /** Next position: epoch (0-based) and batch within it. */
  epoch: number;
  batch: number;
  params: SavedParams;
  optimizer: ReturnType<Trainer['optimizer']['getState']>;
  rng: RngState;
  /** Running sums of the epoch in progress. */
  partial: { errors: number; loss: number; count: number; steps: number; batches: number; seconds: number };
  history: EpochMetrics[];
}

export interface Session {
  config: RunConfig;
  net: EnergyNetwork;
  trainer: Trainer;
  train: Dataset;
  test: Dataset;
}

/** Backend, data, model and trainer for a config. */
export async function createSession(config: RunConfig): Promise<Session> {
  await setupBackend(config.backend);
  const { train, test } = await loadData(config.data);
  const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
  const trainer = new Trainer(net, config.trainer, { seed: config.seed + 1, trainCount: train.count });
  return { config, net, trainer, train, test };
}

/** The data order of an epoch depends only on the seed and the epoch: a resumed run sees the same order. */
function epochRng(seed: number, epoch: number): Rng {
  return new Rng([seed >>> 0, 0x5eed, epoch, 0x9e3779b9]);
}

export function evaluate(session: Session, ds: Dataset): { error: number; loss: number } {
  const { trainer, config } = session;
  return trainer.evaluate(batches(ds, config.evalBatchSize, { shuffle: false, flatten: config.data.flatten }));
}

export interface TrainOptions {
  runDir: RunDir;
  resume: boolean;
  quiet?: boolean;
  log?: (line: string) => void;
}

/** Trains for the configured epochs, writing metrics and atomic checkpoints to the run folder. */
export async function trainRun(session: Session, opts: TrainOptions): Promise<EpochMetrics[]> {
  const { config, trainer, net, train, test } = session;
  const { runDir } = opts;
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const perEpoch = numBatches(train.count, config.batchSize, true);
  let start = { epoch: 0, batch: 0 };
  let partial: Checkpoint['partial'] = { errors: 0, loss: 0, count: 0, steps: 0, batches: 0, seconds: 0 };
  let history: EpochMetrics[] = [];

  if (opts.resume && runDir.has('checkpoint.json')) {
    const ck = runDir.readJson<Checkpoint>('checkpoint.json');
    if (ck.version !== 1) throw new DataFormatError(`checkpoint version ${ck.version} is not supported (expected 1)`);
    loadParams(net.params, ck.params);
    trainer.optimizer.setState(ck.optimizer);
    trainer.rng.setState(ck.rng);
    if (trainer.particles) loadParticles(runDir, trainer.particles.layers);
    start = { epoch: ck.epoch, batch: ck.batch };
    partial = ck.partial;
    history = ck.history;
    log(`resuming ${runDir.path} at epoch ${start.epoch + 1}, batch ${start.batch}/${perEpoch}`);
  }

  const saveCheckpoint = (epoch: number, batch: number, partial: Checkpoint['partial']) => {
    if (trainer.particles) {
      const all = trainer.particles.layers;
      const bytes = new Uint8Array(all.reduce((n, a) => n + a.byteLength, 0));
      let off = 0;
      for (const a of all) {
        bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
        off += a.byteLength;
      }
      atomicWrite(runDir.file('particles.bin'), bytes);
    }
    const ck: Checkpoint = {
      version: 1,
      epoch,
      batch,
      params: saveParams(net.params),
      optimizer: trainer.optimizer.getState(),
      rng: trainer.rng.getState(),
      partial,
      history,
    };
    runDir.writeJson('checkpoint.json', ck);
  };

  const workers = config.workers ?? cpus().length;
  const parallel = workers > 1 ? await DataParallelTrainer.create(trainer, config.model as ModelConfig, config.seed, { workers, backend: config.backend }) : undefined;
  const step = (batch: Batch, lrScale: number) => (parallel ? parallel.trainBatch(batch, lrScale) : trainer.trainBatch(batch, lrScale));
  try {
    return await epochs({ session, runDir, log, quiet: opts.quiet, perEpoch, start, partial, history, step, saveCheckpoint });
  } finally {
    await parallel?.close();
  }
}

interface EpochLoop {
  session: Session;
  runDir: RunDir;
  log: (line: string) => void;
  quiet?: boolean;
  perEpoch: number;
  start: { epoch: number; batch: number };
  partial: Checkpoint['partial'];
  history: EpochMetrics[];
  step: (batch: Batch, lrScale: number) => BatchResult | Promise<BatchResult>;
  saveCheckpoint: (epoch: number, batch: number, partial: Checkpoint['partial']) => void;
}

async function epochs(loop: EpochLoop): Promise<EpochMetrics[]> {
  const { session, runDir, log, perEpoch, start, history, step, saveCheckpoint } = loop;
  const { config, train, test } = session;
  let partial = loop.partial;
  let totalBatches = 0;
  for (let epoch = start.epoch; epoch < config.epochs; epoch++) {
    const t0 = Date.now();
    const priorSeconds = partial.seconds; // time spent on this epoch before a resume
    let lastSave = Date.now();
    const firstBatch = epoch === start.epoch ? start.batch : 0;
    const bar = new ProgressBar(perEpoch, `epoch ${epoch + 1}/${config.epochs}`, process.stderr, loop.quiet);
    const lrScale = config.lrSchedule === 'cosine' ? 0.5 * (1 + Math.cos((Math.PI * epoch) / config.epochs)) : 1;
    let b = firstBatch;
    for (const batch of batches(train, config.batchSize, {
      rng: epochRng(config.seed, epoch),
      shuffle: true,
      dropLast: true,
      flatten: config.data.flatten,
      augment: config.data.augment,
      start: firstBatch,
    })) {
      let r;
      try {
        r = await step(batch, lrScale);
      } catch (e) {
        if (e instanceof Error && e.name === 'NumericalError') e.message = `epoch ${epoch + 1}, batch ${b}: ${e.message} (last good checkpoint kept in ${runDir.path})`;
        throw e;
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
      b++;
      totalBatches++;
      partial.errors += r.errors;
      partial.loss += r.loss * r.size;
      partial.count += r.size;
      partial.steps += r.freeSteps;
      partial.batches++;
      bar.update(b, `train err ${((100 * partial.errors) / partial.count).toFixed(2)}%`);
      if (Date.now() - lastSave > config.checkpointEvery * 1000) {
        partial.seconds = priorSeconds + (Date.now() - t0) / 1000;
        saveCheckpoint(epoch, b, partial);
        lastSave = Date.now();
      }
      if (config.maxBatches && totalBatches >= config.maxBatches) break;
    }
    bar.done();
    const seconds = priorSeconds + (Date.now() - t0) / 1000;
    const ev = evaluate(session, test);
    const m: EpochMetrics = {
      epoch: epoch + 1,
      trainError: partial.errors / Math.max(partial.count, 1),
      trainLoss: partial.loss / Math.max(partial.count, 1),
      testError: ev.error,
      testLoss: ev.loss,
      seconds,
      meanFreeSteps: partial.steps / Math.max(partial.batches, 1),
    };
    history.push(m);
    runDir.appendMetrics({ ...m, tensors: tf.memory().numTensors, time: new Date().toISOString() });
    log(
      `epoch ${String(m.epoch).padStart(3)}  train error ${pct(m.trainError)}  test error ${pct(m.testError)}  time ${formatTime(seconds)} (${seconds.toFixed(1)} s)`,
    );
    partial = { errors: 0, loss: 0, count: 0, steps: 0, batches: 0, seconds: 0 };
    saveCheckpoint(epoch + 1, 0, partial);
    if (config.maxBatches && totalBatches >= config.maxBatches) break;
  }
  return history;
}

function loadParticles(runDir: RunDir, layers: Float32Array[]): void {
  if (!runDir.has('particles.bin')) throw new DataFormatError(`${runDir.file('particles.bin')} is missing`);
  const buf = readFileSync(runDir.file('particles.bin'));
  const expected = layers.reduce((n, a) => n + a.byteLength, 0);
  if (buf.byteLength !== expected) throw new DataFormatError(`particles.bin has ${buf.byteLength} bytes, expected ${expected}`);
  let off = 0;
  for (const a of layers) {
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(buf.subarray(off, off + a.byteLength));
    off += a.byteLength;
  }
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2).padStart(6)}%`;
}
