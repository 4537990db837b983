import { tf, Rng, type Batch, type State } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { EpEstimator, Trainer, disposeRelaxation, type BatchResult, type TrainerConfig } from '@eqprop/learning';
import { layeredMlp } from '@eqprop/models';
import { makeBatch, ranges, type DigitSet } from './data.js';
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

  private ensureTrainer(): void {
    if (!this.dirty) return;
    this.dirty = false;
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

  /** One EP training step on the next batch. */
  trainStep(): BatchResult {
    this.ensureTrainer();
    const batch = makeBatch(this.train, this.nextIndices());
    try {
      const r = this.trainer.trainBatch(batch);
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
  observe(ds: DigitSet, indices: Int32Array, rows = 16): Observation {
    this.ensureTrainer();
    const s = this.settings;
    const estimator = new EpEstimator(s.estimator, s.beta, new Rng(this.seed + 1000 + this.observeCount++));
    const batch = makeBatch(ds, indices);
    const bound = this.net.bind(batch.x);
    const init = this.net.zeroState(indices.length);
    try {
      const est = estimator.estimate({
        bound,
        y: batch.y,
        solver: this.trainer.solver,
        init,
        free: { maxSteps: s.freeSteps, trace: true },
        nudged: { maxSteps: s.nudgedSteps, trace: true },
      });
      const n = Math.min(rows, indices.length);
      const hiddenT = tf.tidy(() => this.net.activity(1, est.free.state[0]).slice([0, 0], [n, -1]));
      const hidden = hiddenT.dataSync() as Float32Array;
      hiddenT.dispose();
      for (const g of Object.values(est.grads)) g.dispose();
      disposeRelaxation(est.free);
      est.nudged.forEach(disposeRelaxation);
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
  accuracy(ds: DigitSet, batchSize = 500): number {
    this.ensureTrainer();
    const batches = ranges(ds.count, batchSize).map((idx) => makeBatch(ds, idx));
    return 1 - this.trainer.evaluate(batches).error;
  }

  /** Predicted classes of the examples at `indices`. */
  predict(ds: DigitSet, indices: Int32Array): Int32Array {
    this.ensureTrainer();
    const batch = makeBatch(ds, indices);
    const state = this.trainer.relaxFree(batch.x);
    const pred = tf.tidy(() => tf.argMax(this.scores(state), 1));
    const out = pred.dataSync() as Int32Array;
    pred.dispose();
    state.forEach((t) => t.dispose());
    disposeBatch(batch);
    return Int32Array.from(out);
  }

  /** Lets the network settle on one input (784 values in [0, 1]), recording the output after every step. */
  settle(pixels: Float32Array, steps = this.settings.freeSteps * 2): Settling {
    this.ensureTrainer();
    const x = tf.tensor2d(pixels, [1, pixels.length]);
    const bound = this.net.bind(x);
    let state: State = this.net.zeroState(1);
    const outputs: Float32Array[] = [];
    const read = (s: State) => {
      const t = tf.tidy(() => this.display(this.scores(s)));
      outputs.push(Float32Array.from(t.dataSync() as Float32Array));
      t.dispose();
    };
    try {
      read(state);
      for (let i = 0; i < steps; i++) {
        const next = this.trainer.solver.relax(bound, state, { maxSteps: 1 }).state;
        state.forEach((t) => t.dispose());
        state = next;
        read(state);
      }
      const h = tf.tidy(() => this.net.activity(1, state[0]));
      const hidden = Float32Array.from(h.dataSync() as Float32Array);
      h.dispose();
      const last = outputs[outputs.length - 1];
      return { outputs, hidden, prediction: last.indexOf(Math.max(...last)) };
    } finally {
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

  dispose(): void {
    this.trainer.dispose();
    for (const v of Object.values(this.net.params)) v.dispose();
  }
}

function disposeBatch(batch: Batch): void {
  batch.x.dispose();
  batch.y.dispose();
}
