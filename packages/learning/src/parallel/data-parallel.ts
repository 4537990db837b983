import { Worker } from 'node:worker_threads';
import { type Batch, ConfigError, EqpropError, type Grads, tf } from '@eqprop/core';
import type { ModelConfig } from '@eqprop/models';
import type { ParticleStore } from '../particles.js';
import { type BatchResult, disposeGrads, type EvalResult, EvalTotal, type GradsOfBatch, type Trainer } from '../trainer.js';
import { paramsChecksum } from './checksum.js';
import type { EvaluatedMessage, FromWorker, MemoryMessage, ShardData, ShardResultMessage, ToWorker } from './protocol.js';

export interface DataParallelOptions {
  /** Replicas in all, the leader included (default: as many as cores). */
  workers: number;
  backend: string;
  /** Modules every worker imports before building the model (custom architectures). */
  setupModules?: string[];
}

/** A worker thread with a queue of pending replies (messages are answered in order). */
class Replica {
  private waiting: { resolve: (m: FromWorker) => void; reject: (e: Error) => void }[] = [];
  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const w = this.waiting.shift();
      if (!w) return;
      if (m.type === 'error') w.reject(Object.assign(new EqpropError('E_WORKER', m.message), { name: m.name }));
      else w.resolve(m);
    });
    worker.on('error', (e) => this.waiting.splice(0).forEach((w) => w.reject(e)));
  }
  request<T extends FromWorker>(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (m: FromWorker) => void, reject });
      this.worker.postMessage(msg, transfer);
    });
  }
}

/**
 * Data-parallel EP: a batch is split across replicas (the leader computes one share itself),
 * each relaxes its share on its own backend, the gradient sums are added and every replica
 * applies the same mean gradient with the same optimizer — the update of one worker, on all
 * cores. The leader owns the persistent particles, the RNG (the estimator's draw, e.g. random-sign's β) and checkpoints.
 */
export class DataParallelTrainer {
  private pendingApply: Promise<unknown>[] = [];

  private constructor(
    readonly trainer: Trainer,
    private readonly replicas: Replica[],
  ) {}

  static async create(trainer: Trainer, model: ModelConfig, seed: number, opts: DataParallelOptions): Promise<DataParallelTrainer> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new ConfigError(`workers must be a positive integer, got ${opts.workers}`);
    const params = Object.fromEntries(Object.entries(trainer.net.params).map(([k, v]) => [k, v.dataSync().slice() as Float32Array]));
    const replicas = Array.from({ length: opts.workers - 1 }, () => new Replica(new Worker(new URL('./worker.js', import.meta.url), { execArgv: [] })));
    await Promise.all(
      replicas.map((r) =>
        r.request({
          type: 'init',
          backend: opts.backend,
          model,
          trainer: trainer.config,
          seed,
          params,
          optimizer: trainer.optimizer.getState(),
          setupModules: opts.setupModules ?? [],
        }),
      ),
    );
    return new DataParallelTrainer(trainer, replicas);
  }

  get workers(): number {
    return this.replicas.length + 1;
  }

  async trainBatch(batch: Batch, lrScale = 1): Promise<BatchResult> {
    const { trainer } = this;
    // each replica would draw its own masks: the run would not be the single-thread one
    if (trainer.net.dropout) throw new ConfigError('dropout trains on one thread (its masks come from the trainer’s Rng): give --workers 1');
    const draw = trainer.estimator.draw();
    const n = batch.labels.length;
    // a worker handles its messages in order, so its share comes after the last update without
    // waiting for it here; the update's reply is awaited with the share's
    const applied = this.pendingApply.splice(0);
    const { bounds, shard, own } = this.split(batch);
    // workers' shares first, so they run while the leader computes its own
    const replies = this.replicas.map((r, i) => {
      const init = trainer.particles?.gatherArrays(batch.indices.subarray(bounds[i + 1], bounds[i + 2]));
      return r.request<ShardResultMessage>({ type: 'shard', ...shard(i), draw, init });
    });
    // if the leader's share throws (say, a NumericalError) the replies are never awaited: mark them
    // handled so that a worker's own error cannot become an unhandled rejection (a crash)
    replies.forEach((p) => p.catch(() => {}));
    const n0 = bounds[1];
    const ownIdx = own.indices;
    const init = trainer.particles?.gather(ownIdx);
    let mine: GradsOfBatch;
    try {
      mine = trainer.computeGrads(own, draw, init);
    } finally {
      own.x.dispose();
      own.y.dispose();
      init?.forEach((t) => t.dispose());
    }
    const results = await Promise.all(replies);
    await Promise.all(applied);
    if (trainer.particles) {
      trainer.particles.scatterArrays(ownIdx, mine.freeState!);
      results.forEach((r, i) => trainer.particles!.scatterArrays(batch.indices.subarray(bounds[i + 1], bounds[i + 2]), r.freeState!));
    }
    // mean over the batch = Σ share means × share sizes / n, on the host (uploading every share's
    // gradients to add them as tensors cost more than the sum); every replica applies these values
    const shares = bounds.slice(1).map((b, i) => b - bounds[i]); // examples per share, the leader's first
    const host: Record<string, Float32Array> = {};
    const mean: Grads = {};
    for (const [name, g] of Object.entries(mine.grads)) {
      host[name] = weightedMean([g.dataSync() as Float32Array, ...results.map((r) => r.grads[name])], shares, n);
      mean[name] = tf.tensor(host[name], g.shape);
    }
    disposeGrads(mine.grads);
    this.pendingApply = this.replicas.map((r) => {
      const copy = Object.fromEntries(Object.entries(host).map(([k, v]) => [k, v.slice()]));
      return r.request(
        { type: 'apply', grads: copy, lrScale },
        Object.values(copy).map((a) => a.buffer as ArrayBuffer),
      );
    });
    this.pendingApply.forEach((p) => p.catch(() => {})); // awaited (and rethrown) by the next batch or close()
    trainer.optimizer.step(mean, lrScale);
    disposeGrads(mean);
    const loss = mine.result.loss * n0 + results.reduce((s, r) => s + r.loss, 0);
    return {
      loss: loss / n,
      errors: mine.result.errors + results.reduce((s, r) => s + r.errors, 0),
      size: n,
      freeSteps: Math.max(mine.result.freeSteps, ...results.map((r) => r.freeSteps)),
      freeStepsPerExample: (mine.result.freeStepsPerExample * n0 + results.reduce((s, r, i) => s + r.freeStepsPerExample * shares[i + 1], 0)) / n,
      residual: mine.result.residual,
    };
  }

  /**
   * Trainer.evaluate on all replicas: each batch is split as in training (the replicas hold the
   * leader's parameters), each share relaxed on its own thread from zero, or from its examples'
   * `particles` (the leader's store, updated with the equilibria). Consumes the batches.
   */
  async evaluate(batches: Iterable<Batch>, particles?: ParticleStore): Promise<EvalResult> {
    await Promise.all(this.pendingApply.splice(0));
    const total = new EvalTotal();
    for (const batch of batches) {
      try {
        if (batch.labels.length < this.workers) {
          total.add(this.trainer.evaluateBatch(batch, particles)); // too small to share (a last batch)
          continue;
        }
        const { bounds, shard, own } = this.split(batch);
        const shareIndices = (i: number) => batch.indices.subarray(bounds[i + 1], bounds[i + 2]);
        const replies = this.replicas.map((r, i) =>
          r.request<EvaluatedMessage>({ type: 'evaluate', ...shard(i), init: particles?.gatherArrays(shareIndices(i)) }),
        );
        replies.forEach((p) => p.catch(() => {})); // as in trainBatch: a leader's throw leaves them unawaited
        try {
          total.add(this.trainer.evaluateBatch(own, particles));
        } finally {
          own.x.dispose();
          own.y.dispose();
        }
        (await Promise.all(replies)).forEach((r, i) => {
          total.add(r);
          if (particles) particles.scatterArrays(shareIndices(i), r.freeState!);
        });
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
    }
    return total.result();
  }

  /**
   * A batch in `workers` contiguous shares: bounds[i]..bounds[i+1] is share i. The leader takes
   * share 0 (as tensors it must dispose); shard(i) is worker i's, share i + 1, as arrays to send.
   */
  private split(batch: Batch): { bounds: number[]; shard: (i: number) => ShardData; own: Batch } {
    const n = batch.labels.length;
    const parts = this.workers;
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * n) / parts));
    const xs = batch.x.dataSync() as Float32Array;
    const ys = batch.y.dataSync() as Float32Array;
    const exampleSize = xs.length / n;
    const classes = batch.y.shape[1];
    const shard = (i: number): ShardData => {
      const [lo, hi] = [bounds[i + 1], bounds[i + 2]];
      return {
        x: xs.slice(lo * exampleSize, hi * exampleSize),
        xShape: [hi - lo, ...batch.x.shape.slice(1)],
        y: ys.slice(lo * classes, hi * classes),
        classes,
        labels: batch.labels.slice(lo, hi),
      };
    };
    const n0 = bounds[1];
    const own: Batch = {
      ...tf.tidy(() => ({ x: batch.x.slice(0, n0), y: batch.y.slice(0, n0) as tf.Tensor2D })),
      labels: batch.labels.slice(0, n0),
      indices: batch.indices.subarray(0, n0),
    };
    return { bounds, shard, own };
  }

  /** Checksums of the parameters of every replica (the leader's first): they must all agree. */
  async checksums(): Promise<number[]> {
    await Promise.all(this.pendingApply.splice(0));
    const others = await Promise.all(this.replicas.map((r) => r.request<{ type: 'checksum'; value: number }>({ type: 'checksum' })));
    return [paramsChecksum(this.trainer.net.params), ...others.map((o) => o.value)];
  }

  /** Live tensors and bytes of every replica (the leader's first), after pending updates. */
  async memory(): Promise<{ numTensors: number; numBytes: number }[]> {
    await Promise.all(this.pendingApply.splice(0));
    const others = await Promise.all(this.replicas.map((r) => r.request<MemoryMessage>({ type: 'memory' })));
    const { numTensors, numBytes } = tf.memory();
    return [{ numTensors, numBytes }, ...others.map(({ numTensors, numBytes }) => ({ numTensors, numBytes }))];
  }

  /** Waits for pending updates and stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.pendingApply.splice(0));
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}

/** Σ_k parts[k] × weights[k] / total, element by element, in double precision, rounded once. */
function weightedMean(parts: ArrayLike<number>[], weights: number[], total: number): Float32Array {
  const out = new Float32Array(parts[0].length);
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < parts.length; k++) sum += parts[k][i] * weights[k];
    out[i] = sum / total;
  }
  return out;
}
