import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { type Batch, ConfigError, fetchToHost, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, type Dataset, numBatches } from '@eqprop/datasets';
import { type EnergyNetwork, weightAngles } from '@eqprop/energies';
import { KernelTeam } from '@eqprop/kernels';
import { type BatchResult, ContinualTrainer, type EvalResult, type ParticleStore, Trainer } from '@eqprop/learning';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
import { buildModel, type ModelConfig, saveParams } from '@eqprop/models';
import { BpttTrainer } from './bptt-trainer.js';
import { Checkpointer, loadCheckpoint, type PartialEpoch, runDirReader } from './checkpoint.js';
import type { RunConfig } from './config.js';
import { loadData } from './data.js';
import { KernelTrainer } from './kernel-trainer.js';
import { formatTime, ProgressBar } from './progress.js';
import { atomicWrite, type RunDir } from './run-dir.js';

export interface EpochMetrics {
  epoch: number;
  trainError: number;
  trainLoss: number;
  testError: number;
  testLoss: number;
  /** Fraction of test examples whose class is not among the 5 highest scores (absent where a worker did not report it). */
  testTop5Error?: number;
  seconds: number;
  meanFreeSteps: number;
  /** Free-phase steps per training example (below meanFreeSteps when the tolerance is per example). */
  freeStepsPerExample: number;
  /** Time to evaluate the test set after the epoch (not part of `seconds`). */
  evalSeconds?: number;
  /** With persistent evaluation (testError from the test particles): the error and loss relaxed from zero. */
  testErrorFromZero?: number;
  testLossFromZero?: number;
  /** With a validation set (`data.validation`): its error and loss, evaluated as the test set is. */
  validError?: number;
  validLoss?: number;
  validTop5Error?: number;
  /** Vector-field networks: degrees between each coupling's forward and backward weights, by term name, after the epoch. */
  angles?: Record<string, number>;
}

export interface Session {
  config: RunConfig;
  net: EnergyNetwork;
  trainer: Trainer;
  train: Dataset;
  test: Dataset;
  /** The held-out validation set (`data.validation`). */
  valid?: Dataset;
}

/** Backend, data, model and trainer for a config; the config is checked against the data before anything is built. */
export async function createSession(config: RunConfig): Promise<Session> {
  await setupBackend(config.backend);
  const { train, test, valid } = await loadData(config.data);
  checkAgainstData(config, train);
  const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
  const opts = { seed: config.seed + 1, trainCount: train.count, testCount: test.count, validCount: valid?.count };
  if (config.algorithm === 'bptt' && (config.workers ?? 1) > 1) throw new ConfigError('--workers applies to EP only: BPTT trains on one thread');
  if (config.algorithm === 'cep' && (config.workers ?? 1) > 1)
    throw new ConfigError('--workers applies to EP only: continual EP (cep) moves the weights inside each batch and trains on one thread');
  // the fused path's threads (the trainer owns them)
  const team = usesKernels(config) ? await KernelTeam.start({ threads: kernelThreads(config) }) : undefined;
  try {
    return { config, net, trainer: makeTrainer(config, net, opts, team), train, test, valid };
  } catch (e) {
    team?.dispose();
    throw e;
  }
}

/** Whether makeTrainer builds a KernelTrainer (EP, fused or auto kernels, one replica): it needs a kernel team. */
function usesKernels(config: RunConfig): boolean {
  const kernels = config.kernels ?? DEFAULT_KERNELS;
  return (config.algorithm ?? 'ep') === 'ep' && kernels !== 'tfjs' && resolveWorkers(config) === 1;
}

/** `--kernels` when not given: the fused path where it applies (1.8–2.4× faster per epoch), tfjs ops elsewhere. */
const DEFAULT_KERNELS = 'auto';

/**
 * `--kernel-threads` when not given: the team's default (2 on 2 cores or more) from batches of 50
 * up; one below, where a thread's share is too small for the meeting points to pay (measured at
 * batch 20: 5.6 s on one thread against 6.0 s on two for scellier2017-1h; at 50, 6.7 against 4.7 s).
 */
function kernelThreads(config: RunConfig): number | undefined {
  return config.kernelThreads ?? (config.batchSize >= 50 ? undefined : 1);
}

/**
 * EP's trainer, with @eqprop/kernels' fused relaxation and optimizer step where `--kernels` asks
 * (on one thread: data-parallel replicas run tfjs ops), BPTT's, or continual EP's.
 */
function makeTrainer(config: RunConfig, net: EnergyNetwork, opts: ConstructorParameters<typeof Trainer>[2], team?: KernelTeam): Trainer {
  if (net.dropout && config.algorithm === 'bptt') throw new ConfigError('model.dropout is applied by the EP trainer: --algorithm bptt would train without it');
  if (net.dropout && resolveWorkers(config) > 1)
    throw new ConfigError(
      `model.dropout draws its masks from one trainer's Rng: it trains on one thread, not ${resolveWorkers(config)} replicas (--workers 1)`,
    );
  if (config.algorithm === 'bptt') {
    if (config.kernels === 'fused') throw new ConfigError('--kernels fused applies to EP: BPTT runs on tfjs ops (--kernels tfjs)');
    return new BpttTrainer(net, config.trainer, opts);
  }
  if (config.algorithm === 'cep') {
    if (config.kernels === 'fused') throw new ConfigError('--kernels fused applies to EP: continual EP (cep) runs on tfjs ops (--kernels tfjs)');
    return new ContinualTrainer(net, config.trainer, opts);
  }
  const kernels = config.kernels ?? DEFAULT_KERNELS;
  if (kernels === 'tfjs') return new Trainer(net, config.trainer, opts);
  const workers = resolveWorkers(config);
  if (workers > 1) {
    if (kernels === 'fused')
      throw new ConfigError(`--kernels fused runs on one thread, not ${workers} data-parallel replicas: give --workers 1, or --kernels auto`);
    return new Trainer(net, config.trainer, opts);
  }
  return new KernelTrainer(net, config.trainer, opts, kernels, team);
}

/**
 * The network's input against the data's examples, and the batch against the training set: a
 * mismatch would otherwise surface later as another error (the learning rates of a network of the
 * wrong depth) or as an epoch of no batch at all (reported as 0.00 % error).
 */
export function checkAgainstData(config: RunConfig, train: Dataset): void {
  const model = config.model as { sizes?: unknown; inputShape?: unknown };
  const inputs = train.exampleShape.reduce((a, b) => a * b, 1);
  const shape = train.exampleShape.join('×');
  if (Array.isArray(model.sizes)) {
    const first = model.sizes[0];
    // a first size that is not a positive integer is the model's to refuse (with all the sizes)
    if (Number.isSafeInteger(first) && first > 0 && first !== inputs) {
      throw new ConfigError(`the data has ${inputs} inputs (${train.name}, ${shape}), the network ${first}: the first layer size (--layers) must be ${inputs}`);
    }
  } else if (Array.isArray(model.inputShape) && model.inputShape.join('×') !== shape) {
    throw new ConfigError(
      `the data has examples of shape ${shape} (${train.name}), the network an input of shape ${model.inputShape.join('×')} (model.inputShape)`,
    );
  }
  if (config.batchSize > train.count) {
    throw new ConfigError(
      `the batch size ${config.batchSize} (--batch-size) is larger than the training set of ${train.count} examples: an epoch would hold no full batch`,
    );
  }
}

/**
 * Data-parallel replicas for a run: --workers if given; else one per core for a convnet, whose
 * relaxation step is compute-bound (2 replicas: 1.74× one), with at least 5 examples a share; one
 * for the MLPs, where the per-op overhead and the exchange outweigh the halved batch (0.64×–0.87×);
 * one for BPTT and continual EP, which train on the main thread.
 */
export function resolveWorkers(config: RunConfig): number {
  if (config.algorithm === 'bptt' || config.algorithm === 'cep') return 1;
  // dropout draws each batch's masks from the one trainer's Rng (makeTrainer refuses replicas)
  const dropout = (config.model as { dropout?: unknown }).dropout;
  if (config.workers === undefined && Array.isArray(dropout) && dropout.some((p) => p > 0)) return 1;
  // an accelerator holds the whole batch; replicas are wasm threads
  if (tf.getBackend() === 'webgpu') {
    if ((config.workers ?? 1) > 1)
      throw new ConfigError(`--workers ${config.workers}: data-parallel replicas run on wasm; on webgpu the batch stays on the device (--workers 1)`);
    return 1;
  }
  if (config.workers !== undefined) return config.workers;
  if (!CONV_KINDS.includes((config.model as { kind?: string }).kind ?? '')) return 1;
  return Math.max(1, Math.min(availableParallelism(), Math.floor(config.batchSize / 5)));
}

/** Model kinds of convolutional networks, whose relaxation steps are compute-bound (replicas pay). */
const CONV_KINDS = ['conv', 'vf-conv', 'resnet'];

/** The data order of an epoch depends only on the seed and the epoch: a resumed run sees the same order. */
export function epochRng(seed: number, epoch: number): Rng {
  return new Rng([seed >>> 0, 0x5eed, epoch, 0x9e3779b9]);
}

/**
 * Error and loss on a dataset, relaxed from zero or from `particles` (one per example of `ds`,
 * updated); on the data-parallel replicas when given.
 */
export async function evaluate(session: Session, ds: Dataset, parallel?: DataParallelTrainer, particles?: ParticleStore): Promise<EvalResult> {
  const { trainer, config } = session;
  const all = batches(ds, config.evalBatchSize, { shuffle: false, flatten: config.data.flatten });
  return parallel ? parallel.evaluate(all, particles) : trainer.evaluateAsync(all, particles);
}

/**
 * The held-out sets after an epoch: the validation set (if any), then the test set, each from its
 * particles with persistent evaluation (the test set also from zero, beside it), else from zero.
 */
async function evaluateHeldOut(session: Session, parallel?: DataParallelTrainer): Promise<TestEvaluation> {
  const { trainer, test, valid } = session;
  const validation = valid && (await evaluate(session, valid, parallel, trainer.validParticles));
  const ev = await evaluate(session, test, parallel, trainer.evalParticles);
  const zero = trainer.evalParticles && (await evaluate(session, test, parallel));
  return { ...ev, ...(zero && { fromZero: zero }), ...(validation && { validation }) };
}

type TestEvaluation = EvalResult & { fromZero?: EvalResult; validation?: EvalResult };

/** Parameters of the epoch with the lowest validation error so far (written when it improves). */
export const BEST_PARAMS_FILE = 'best-params.json';

export interface TrainOptions {
  runDir: RunDir;
  resume: boolean;
  quiet?: boolean;
  log?: (line: string) => void;
  /** Awaited after each epoch's metrics are written (say, to record them in a runs database). */
  onEpoch?: (m: EpochMetrics) => Promise<void>;
}

/** Trains for the configured epochs, writing metrics and atomic checkpoints to the run folder. */
export async function trainRun(session: Session, opts: TrainOptions): Promise<EpochMetrics[]> {
  const { config, trainer, train } = session;
  const { runDir } = opts;
  const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const perEpoch = numBatches(train.count, config.batchSize, true);
  let start = { epoch: 0, batch: 0 };
  let partial: PartialEpoch = { errors: 0, loss: 0, count: 0, steps: 0, exampleSteps: 0, batches: 0, seconds: 0 };
  let history: EpochMetrics[] = [];

  const ck = opts.resume ? loadCheckpoint(runDirReader(runDir), { trainer, epochs: config.epochs, batchesPerEpoch: perEpoch }) : undefined;
  if (ck) {
    start = { epoch: ck.epoch, batch: ck.batch };
    partial = ck.partial;
    history = ck.history;
    log(`resuming ${runDir.path} at epoch ${start.epoch + 1}, batch ${start.batch}/${perEpoch}`);
  }
  if (opts.resume) keepMetrics(runDir, history.length);
  const checkpointer = new Checkpointer(runDir, trainer, ck?.seq ?? 0);
  const saveCheckpoint = (epoch: number, batch: number, partial: PartialEpoch) => checkpointer.save(epoch, batch, partial, history);

  // the replicas compute EP gradients: BPTT runs on the main thread alone
  const workers = resolveWorkers(config);
  const parallel =
    workers > 1 ? await DataParallelTrainer.create(trainer, config.model as ModelConfig, config.seed, { workers, backend: config.backend }) : undefined;
  const step = (batch: Batch, lrScale: number) => (parallel ? parallel.trainBatch(batch, lrScale) : trainer.trainBatchAsync(batch, lrScale));
  try {
    const evaluateTest = () => evaluateHeldOut(session, parallel);
    return await epochs({
      session,
      runDir,
      log,
      quiet: opts.quiet,
      perEpoch,
      start,
      partial,
      history,
      step,
      evaluateTest,
      saveCheckpoint,
      onEpoch: opts.onEpoch,
    });
  } finally {
    await parallel?.close();
  }
}

interface EpochLoop {
  onEpoch?: (m: EpochMetrics) => Promise<void>;
  session: Session;
  runDir: RunDir;
  log: (line: string) => void;
  quiet?: boolean;
  perEpoch: number;
  start: { epoch: number; batch: number };
  partial: PartialEpoch;
  history: EpochMetrics[];
  step: (batch: Batch, lrScale: number) => BatchResult | Promise<BatchResult>;
  evaluateTest: () => Promise<TestEvaluation>;
  saveCheckpoint: (epoch: number, batch: number, partial: PartialEpoch) => Promise<void>;
}

async function epochs(loop: EpochLoop): Promise<EpochMetrics[]> {
  const { session, runDir, log, perEpoch, start, history, step, evaluateTest, saveCheckpoint, onEpoch } = loop;
  // NaN or Inf: say where, and that the checkpoint on disk (written before it) is the last good one
  const numerical = (e: unknown, epoch: number, b: number) => {
    if (e instanceof Error && e.name === 'NumericalError') {
      e.message = `epoch ${epoch + 1}, batch ${b + 1}/${perEpoch}: ${e.message} (last good checkpoint kept in ${runDir.path})`;
    }
    return e;
  };
  const { config, train } = session;
  let partial = loop.partial;
  let totalBatches = 0;
  for (let epoch = start.epoch; epoch < config.epochs; epoch++) {
    const t0 = Date.now();
    const priorSeconds = partial.seconds; // time spent on this epoch before a resume
    let lastSave = Date.now();
    let sinceSave = 0;
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
      let r: BatchResult;
      try {
        r = await step(batch, lrScale);
      } catch (e) {
        throw numerical(e, epoch, b);
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
      partial.exampleSteps = (partial.exampleSteps ?? 0) + r.freeStepsPerExample * r.size;
      partial.batches++;
      bar.update(b, `train err ${((100 * partial.errors) / partial.count).toFixed(2)}%`);
      if (++sinceSave >= (config.checkpointEveryBatches ?? Infinity) || Date.now() - lastSave > config.checkpointEvery * 1000) {
        partial.seconds = priorSeconds + (Date.now() - t0) / 1000;
        try {
          await saveCheckpoint(epoch, b, partial);
        } catch (e) {
          throw numerical(e, epoch, b - 1);
        }
        lastSave = Date.now();
        sinceSave = 0;
      }
      if (config.maxBatches && totalBatches >= config.maxBatches) break;
    }
    bar.done();
    const seconds = priorSeconds + (Date.now() - t0) / 1000;
    const tEval = Date.now();
    const ev = await evaluateTest();
    const angles = await weightAngles(session.net);
    const m: EpochMetrics = {
      epoch: epoch + 1,
      trainError: partial.errors / Math.max(partial.count, 1),
      trainLoss: partial.loss / Math.max(partial.count, 1),
      testError: ev.error,
      testLoss: ev.loss,
      ...(ev.top5Error !== undefined && { testTop5Error: ev.top5Error }),
      seconds,
      meanFreeSteps: partial.steps / Math.max(partial.batches, 1),
      freeStepsPerExample: (partial.exampleSteps ?? 0) / Math.max(partial.count, 1),
      evalSeconds: (Date.now() - tEval) / 1000,
      ...(ev.fromZero && { testErrorFromZero: ev.fromZero.error, testLossFromZero: ev.fromZero.loss }),
      ...(ev.validation && { validError: ev.validation.error, validLoss: ev.validation.loss }),
      ...(ev.validation?.top5Error !== undefined && { validTop5Error: ev.validation.top5Error }),
      ...(Object.keys(angles).length > 0 && { angles }),
    };
    // top-5 beside top-1 on the epoch line only where it says something: with more than 10 classes
    const top5 = m.testTop5Error !== undefined && session.test.numClasses > 10 ? ` (top-5 ${pct(m.testTop5Error).trim()})` : '';
    // before the checkpoint: a kill in between redoes the epoch, which writes the same file again
    if (m.validError !== undefined && history.every((h) => h.validError === undefined || m.validError! < h.validError)) {
      await fetchToHost(Object.values(session.net.params));
      atomicWrite(runDir.file(BEST_PARAMS_FILE), JSON.stringify({ epoch: m.epoch, validError: m.validError, params: saveParams(session.net.params) }));
    }
    history.push(m);
    runDir.appendMetrics({ ...m, tensors: tf.memory().numTensors, time: new Date().toISOString() });
    await onEpoch?.(m);
    log(
      `epoch ${String(m.epoch).padStart(3)}  train error ${pct(m.trainError)}${m.validError === undefined ? '' : `  valid error ${pct(m.validError)}`}  test error ${pct(m.testError)}${top5}${m.testErrorFromZero === undefined ? '' : ` (${pct(m.testErrorFromZero).trim()} from zero)`}  time ${formatTime(seconds)} (${seconds.toFixed(1)} s)  free steps ${m.meanFreeSteps.toFixed(1)}${config.trainer.tolPerExample ? ` (${m.freeStepsPerExample.toFixed(1)} per example)` : ''}`,
    );
    if (m.angles) log(`          W–B angles ${formatAngles(m.angles)}`);
    partial = { errors: 0, loss: 0, count: 0, steps: 0, exampleSteps: 0, batches: 0, seconds: 0 };
    try {
      await saveCheckpoint(epoch + 1, 0, partial);
    } catch (e) {
      throw numerical(e, epoch, b - 1);
    }
    if (config.maxBatches && totalBatches >= config.maxBatches) break;
  }
  return history;
}

/** Drops metrics lines of epochs the checkpoint does not know (written before a kill, redone on resume). */
function keepMetrics(runDir: RunDir, epochs: number): void {
  if (!runDir.has('metrics.jsonl')) return;
  const lines = readFileSync(runDir.file('metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (lines.length > epochs)
    atomicWrite(
      runDir.file('metrics.jsonl'),
      lines
        .slice(0, epochs)
        .map((l) => `${l}\n`)
        .join(''),
    );
}

/** `W1_2 12.3°, W2_3 40.1°`: the W–B angles of an epoch line. */
export function formatAngles(angles: Record<string, number>): string {
  return Object.entries(angles)
    .map(([name, a]) => `${name} ${a.toFixed(1)}°`)
    .join(', ');
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2).padStart(6)}%`;
}
