import { type Batch, fetchToHost, type Reads, Rng, readOnce, runOnBackend, type State, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { type BatchResult, disposeRelaxation, EpEstimator, Trainer, type TrainerConfig } from '@eqprop/learning';
import { layeredMlp } from '@eqprop/models';
import { type DigitSet, makeBatch, ranges } from './data.js';
import type { Preset, Settings } from './presets.js';

/** What one traced EP step looked like: energies per relaxation step and the hidden activity. */
export interface Observation {
  /** Mean F over the batch after each free step (index 0: the zero state). */
  free: number[];
  /** One trace per nudged phase (two for the symmetric estimator), starting at the free equilibrium. */
  nudged: { beta: number; trace: number[] }[];
  /** Activity of the first hidden layer at the free equilibrium, `rows` examples × `units`. */
  hidden: Float32Array;
  rows: number;
  units: number;
}

/** The network settling on one input, step by step. */
export interface Settling {
  /** Output-layer activity (10 values) after each step, index 0: the zero state. */
  outputs: Float32Array[];
  /** First hidden layer at the end. */
  hidden: Float32Array;
  prediction: number;
}

/**
 * A training run in the page: the network of a preset, its Trainer, the batch order. Only the
 * public APIs of @eqprop/models, @eqprop/learning and @eqprop/solvers are used.
 *
 * Every method that reads tensors is a Reads program run by `run`: synchronous reads inside one
 * promise on wasm (a batch finishes before the browser gets control back, as before), asynchronous
 * ones on WebGPU (the browser runs while the GPU works). The methods run one at a time, in call
 * order: on WebGPU a click may land while a batch waits for the GPU, and nothing may touch the
 * network or the optimizer in between.
 */
export class Session {
  readonly net: EnergyNetwork;
  private trainer: Trainer;
  private settings: Settings;
  private dirty = false;
  private readonly order: Rng;
  private perm: Int32Array;
  private cursor = 0;
  private observeCount = 0;
  private queue: Promise<unknown> = Promise.resolve();
  batches = 0;
  examples = 0;

  constructor(
    readonly preset: Preset,
    settings: Settings,
    readonly train: DigitSet,
    readonly seed: number,
  ) {
    this.settings = structuredClone(settings);
    this.net = layeredMlp(preset.model, new Rng(seed));
    this.trainer = this.makeTrainer();
    this.order = new Rng(seed + 1);
    this.perm = this.order.permutation(train.count);
  }

  /** Runs `task` after every task queued before it; a failed task does not stop the ones after it. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Runs a Reads program in turn, with the backend's kind of reads (the trainer brought up to date first). */
  private run<T>(program: () => Reads<T>): Promise<T> {
    return this.exclusive(async () => {
      await this.ensureTrainer();
      // synchronous reads on wasm; on WebGPU asynchronous (in Chromium a dataSync there returned
      // zeros and then lost the device): core's hasSyncReads decides
      return runOnBackend(program());
    });
  }

  private config(): TrainerConfig {
    const s = this.settings;
    return {
      solver: this.preset.solver,
      freeSteps: s.freeSteps,
      nudgedSteps: s.nudgedSteps,
      estimator: s.estimator,
      beta: s.beta,
      optimizer: { kind: this.preset.optimizer, lrs: s.lrs },
      persistent: false,
    };
  }

  private makeTrainer(): Trainer {
    return new Trainer(this.net, this.config(), { seed: this.seed + 2 + this.batches });
  }

  /** New settings take effect at the next batch; the optimizer's state (Adam moments) carries over. */
  update(settings: Settings): void {
    this.settings = structuredClone(settings);
    this.dirty = true;
  }

  private async ensureTrainer(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    // getState reads the moments with dataSync: on WebGPU fetch them first (tfjs keeps what it fetched)
    await fetchToHost(this.trainer.optimizer.slotTensors());
    const state = this.trainer.optimizer.getState();
    this.trainer.dispose();
    this.trainer = this.makeTrainer();
    this.trainer.optimizer.setState(state);
  }

  private nextIndices(): Int32Array {
    const bs = this.preset.batchSize;
    if (this.cursor + bs > this.train.count) {
      this.perm = this.order.permutation(this.train.count);
      this.cursor = 0;
    }
    const idx = this.perm.subarray(this.cursor, this.cursor + bs);
    this.cursor += bs;
    return idx;
  }

  /**
   * Runs an exercise's Reads program on this session's network, in turn with training (between two
   * batches): it sees the current weights, and nothing trains while it runs.
   */
  withNetwork<T>(program: (net: EnergyNetwork) => Reads<T>): Promise<T> {
    return this.run(() => program(this.net));
  }

  /** One EP training step on the next batch. */
  trainStep(): Promise<BatchResult> {
    return this.run(() => this.trainStepReads());
  }

  private *trainStepReads(): Reads<BatchResult> {
    const batch = makeBatch(this.train, this.nextIndices());
    try {
      const r = yield* this.trainer.trainBatchReads(batch);
      this.batches++;
      this.examples += r.size;
      return r;
    } finally {
      disposeBatch(batch);
    }
  }

  /**
   * Free and nudged phases on a batch with energy traces, without a parameter update. It draws
   * from its own generator, so watching does not change the training run.
   */
  observe(ds: DigitSet, indices: Int32Array, rows = 16): Promise<Observation> {
    return this.run(() => this.observeReads(ds, indices, rows));
  }

  private *observeReads(ds: DigitSet, indices: Int32Array, rows: number): Reads<Observation> {
    const s = this.settings;
    const estimator = new EpEstimator(s.estimator, s.beta, new Rng(this.seed + 1000 + this.observeCount++));
    const batch = makeBatch(ds, indices);
    const bound = this.net.bind(batch.x);
    const init = this.net.zeroState(indices.length);
    try {
      const est = yield* estimator.estimateReads({
        bound,
        y: batch.y,
        solver: this.trainer.solver,
        init,
        free: { maxSteps: s.freeSteps, trace: true },
        nudged: { maxSteps: s.nudgedSteps, trace: true },
      });
      const n = Math.min(rows, indices.length);
      let hidden: Float32Array;
      try {
        for (const g of Object.values(est.grads)) g.dispose();
        est.nudged.forEach(disposeRelaxation);
        hidden = (yield* readOnce(tf.tidy(() => this.net.activity(1, est.free.state[0]).slice([0, 0], [n, -1])))) as Float32Array;
      } finally {
        disposeRelaxation(est.free);
      }
      const signs = s.estimator === 'symmetric' ? [est.beta, -est.beta] : [est.beta];
      return {
        free: est.free.trace ?? [],
        nudged: est.nudged.map((r, i) => ({ beta: signs[i], trace: r.trace ?? [] })),
        hidden,
        rows: n,
        units: this.net.layerShapes[0][0],
      };
    } finally {
      init.forEach((t) => t.dispose());
      bound.dispose();
      disposeBatch(batch);
    }
  }

  /** Accuracy on a whole set (Trainer.evaluate: free phase from zero, argmax of the output). */
  accuracy(ds: DigitSet, batchSize = 500): Promise<number> {
    return this.run(() => this.accuracyReads(ds, batchSize));
  }

  private *accuracyReads(ds: DigitSet, batchSize: number): Reads<number> {
    // batches made one at a time, as evaluateReads consumes (disposes) them
    function* batches(): Generator<Batch> {
      for (const idx of ranges(ds.count, batchSize)) yield makeBatch(ds, idx);
    }
    return 1 - (yield* this.trainer.evaluateReads(batches())).error;
  }

  /** Predicted classes of the examples at `indices`. */
  predict(ds: DigitSet, indices: Int32Array): Promise<Int32Array> {
    return this.run(() => this.predictReads(ds, indices));
  }

  private *predictReads(ds: DigitSet, indices: Int32Array): Reads<Int32Array> {
    const batch = makeBatch(ds, indices);
    try {
      const state = yield* this.trainer.relaxFreeReads(batch.x);
      const pred = tf.tidy(() => tf.argMax(this.scores(state), 1));
      state.forEach((t) => t.dispose());
      return Int32Array.from(yield* readOnce(pred));
    } finally {
      disposeBatch(batch);
    }
  }

  /** Lets the network settle on one input (784 values in [0, 1]), recording the output after every step. */
  settle(pixels: Float32Array, steps?: number): Promise<Settling> {
    return this.run(() => this.settleReads(pixels, steps ?? this.settings.freeSteps * 2));
  }

  private *settleReads(pixels: Float32Array, steps: number): Reads<Settling> {
    const x = tf.tensor2d(pixels, [1, pixels.length]);
    const bound = this.net.bind(x);
    let state: State = this.net.zeroState(1);
    // the shown output after every step, kept on the backend and read once at the end
    const shown: tf.Tensor[] = [];
    const keep = (s: State) => shown.push(tf.tidy(() => tf.reshape(this.display(this.scores(s)), [-1])));
    try {
      keep(state);
      for (let i = 0; i < steps; i++) {
        const next = (yield* this.trainer.solver.relaxReads(bound, state, { maxSteps: 1 })).state;
        state.forEach((t) => t.dispose());
        state = next;
        keep(state);
      }
      const units = shown[0].size;
      const hiddenT = tf.tidy(() => tf.reshape(this.net.activity(1, state[0]), [-1]));
      const hiddenSize = hiddenT.size;
      const values = yield* readOnce(tf.concat([...shown, hiddenT]));
      hiddenT.dispose();
      const outputs = shown.map((_, i) => Float32Array.from(values.subarray(i * units, (i + 1) * units)));
      const hidden = Float32Array.from(values.subarray(shown.length * units, shown.length * units + hiddenSize));
      const last = outputs[outputs.length - 1];
      return { outputs, hidden, prediction: last.indexOf(Math.max(...last)) };
    } finally {
      shown.forEach((t) => t.dispose());
      state.forEach((t) => t.dispose());
      bound.dispose();
      x.dispose();
    }
  }

  /** Class scores of the cost (output activity for MSE, readout logits for CE). */
  private scores(state: State): tf.Tensor {
    const L = this.net.depth;
    return this.net.cost.scores(this.net.activity(L, state[L - 1]));
  }

  /** Scores as shown: activities in [0, 1] as they are, logits through a softmax. */
  private display(scores: tf.Tensor): tf.Tensor {
    return this.net.cost.name === 'mse' ? tf.clipByValue(scores, 0, 1) : tf.softmax(scores);
  }

  /** Resolves once the tasks queued so far have run. */
  idle(): Promise<void> {
    return this.exclusive(async () => undefined);
  }

  /** Frees the network and the trainer once the tasks already queued have run. */
  dispose(): Promise<void> {
    return this.exclusive(async () => {
      this.trainer.dispose();
      for (const v of Object.values(this.net.params)) v.dispose();
    });
  }
}

function disposeBatch(batch: Batch): void {
  batch.x.dispose();
  batch.y.dispose();
}
