import {
  type Batch,
  ConfigError,
  type Grads,
  NumericalError,
  type Reads,
  Rng,
  readOnce,
  readValues,
  runOnBackend,
  runSync,
  type State,
  tf,
} from '@eqprop/core';
import { type BoundNetwork, drawDropoutMasks, type EnergyNetwork } from '@eqprop/energies';
import { FixedPoint, type FixedPointSchedule, GradientDescent, type NudgePlacement, type Relaxation, type RelaxOptions, type Solver } from '@eqprop/solvers';
import { createEstimator, disposeRelaxation, type Estimator, type EstimatorDraw, type EstimatorKind } from './estimators.js';
import { Optimizer, type OptimizerConfig } from './optimizers.js';
import { ParticleStore } from './particles.js';
import { restoreTrainerState, type TrainerState, trainerState, trainerStateAsync } from './trainer-state.js';

/** Fixed point: `stepSize` is ε of the damped iteration s ← (1−ε)s + ε·σ(…) (default 1), `nudge` inside σ (default) or outside. */
export type SolverConfig =
  | { kind: 'gradient-descent'; stepSize: number }
  | { kind: 'fixed-point'; schedule: FixedPointSchedule; stepSize?: number; nudge?: NudgePlacement };

export interface TrainerConfig {
  solver: SolverConfig;
  /** Free-phase steps (T, T1). */
  freeSteps: number;
  /** Nudged-phase steps (K, T2). */
  nudgedSteps: number;
  /** Optional early stop of each phase (free and nudged) once the largest state change per step falls below this. */
  tol?: number;
  /**
   * Apply `tol` to each example: one that has settled leaves the batch while the rest relax on
   * (RelaxOptions.perExample). Pays off where examples settle at different times (the convnet).
   */
  tolPerExample?: boolean;
  /**
   * With tolPerExample: read each example's residual when its decay predicts it will cross `tol`
   * (default true; RelaxOptions.predictStops), or false: every 5 steps.
   */
  predictStops?: boolean;
  /** Free-phase steps at evaluation (default: freeSteps; from zero state). */
  evalSteps?: number;
  /** A registered estimator's name (estimatorNames(): one-sided, symmetric, random-sign, five-phase, holomorphic-N, …). */
  estimator: EstimatorKind;
  beta: number;
  /** The estimator's own options (holomorphic: `points`, `divergenceTol`). */
  estimatorOptions?: Record<string, unknown>;
  optimizer: OptimizerConfig;
  /** Warm-start each example's free phase from its last equilibrium. */
  persistent: boolean;
  /**
   * Evaluate the test set from each example's equilibrium at the previous evaluation (persistent
   * test particles; zero at the first), as the reference code of Scellier & Bengio 2017 relaxes its
   * validation set. The network is multistable: where an example settles depends on where it starts,
   * and its trained equilibria are those tracked from warm starts.
   */
  persistentEval?: boolean;
}

export interface TrainerOptions {
  seed: number;
  /** Training examples: the size of the persistent particle store. */
  trainCount?: number;
  /** Test examples: the size of the persistent test particle store (persistentEval). */
  testCount?: number;
  /** Validation examples, if the run holds some out: with persistentEval they get particles too. */
  validCount?: number;
}

export interface BatchResult {
  /** Mean cost at the free equilibrium. */
  loss: number;
  /** Misclassified examples in the batch (at the free equilibrium). */
  errors: number;
  /** Examples whose true class is not among the 5 highest scores (top-5 errors; absent where not computed). */
  top5Errors?: number;
  size: number;
  /** Free-phase steps of the batch (of its slowest example). */
  freeSteps: number;
  /** Free-phase steps per example, averaged over the batch (less than freeSteps with tolPerExample). */
  freeStepsPerExample: number;
  residual: number;
}

/** The mean gradient of a batch (or share), its summary, and its free state when the caller keeps the particles. */
export interface GradsOfBatch {
  grads: Grads;
  result: BatchResult;
  freeState?: Float32Array[];
}

export interface EvalResult {
  error: number;
  /** Fraction of examples whose true class is not among the 5 highest scores (≤ error); absent when a share did not report it. */
  top5Error?: number;
  loss: number;
  count: number;
}

export function makeSolver(config: SolverConfig): Solver {
  if (config.kind === 'gradient-descent') return new GradientDescent(config.stepSize);
  if (config.kind === 'fixed-point') return new FixedPoint(config.schedule, { stepSize: config.stepSize, nudge: config.nudge });
  throw new ConfigError(`unknown solver "${(config as { kind: string }).kind}": expected gradient-descent or fixed-point`);
}

/**
 * The parameter groups of per-layer learning rates: the network's (EnergyNetwork.groups: the layer a
 * parameter feeds, L+1 for the cost). A parameter with no group needs `optimizer.lrByParam`.
 */
export function parameterGroups(net: EnergyNetwork): Record<string, number> {
  return { ...net.groups };
}

/** One EP training step per batch: free phase, nudged phase(s), estimate, optimizer step. */
export class Trainer {
  readonly solver: Solver;
  readonly estimator: Estimator;
  readonly optimizer: Optimizer;
  readonly particles?: ParticleStore;
  /** Persistent test particles (persistentEval): pass them to evaluate() for the test set. */
  readonly evalParticles?: ParticleStore;
  /** Persistent validation particles (persistentEval with a validation set), as evalParticles. */
  readonly validParticles?: ParticleStore;
  readonly rng: Rng;

  constructor(
    readonly net: EnergyNetwork,
    readonly config: TrainerConfig,
    opts: TrainerOptions,
  ) {
    for (const key of ['freeSteps', 'nudgedSteps'] as const) {
      if (!Number.isInteger(config[key]) || config[key] < 1) throw new ConfigError(`${key} must be a positive integer, got ${config[key]}`);
    }
    if (config.tolPerExample && config.tol === undefined) throw new ConfigError('a per-example tolerance (tolPerExample, --tol-per-example) needs tol');
    this.rng = new Rng(opts.seed);
    this.solver = makeSolver(config.solver);
    this.estimator = createEstimator(config.estimator, { ...config.estimatorOptions, beta: config.beta, rng: this.rng });
    this.estimator.check?.(net, this.solver);
    this.optimizer = new Optimizer(config.optimizer, net.params, parameterGroups(net));
    if (config.persistent) {
      if (!opts.trainCount) throw new ConfigError('persistent particles need the training set size');
      this.particles = new ParticleStore(opts.trainCount, net.layerShapes);
    }
    if (config.persistentEval) {
      if (!opts.testCount) throw new ConfigError('persistent evaluation (persistentEval) needs the test set size');
      this.evalParticles = new ParticleStore(opts.testCount, net.layerShapes);
      if (opts.validCount) this.validParticles = new ParticleStore(opts.validCount, net.layerShapes);
    }
  }

  /** One training step (free phase, nudged phase(s), optimizer step) with synchronous reads. */
  trainBatch(batch: Batch, lrScale = 1): BatchResult {
    return runSync(this.trainBatchReads(batch, lrScale));
  }

  /** `trainBatch` on any backend: its reads are asynchronous where the backend's are (WebGPU in Node). */
  trainBatchAsync(batch: Batch, lrScale = 1): Promise<BatchResult> {
    return runOnBackend(this.trainBatchReads(batch, lrScale));
  }

  /** `trainBatch` as a Reads program. */
  *trainBatchReads(batch: Batch, lrScale = 1): Reads<BatchResult> {
    const { grads, result } = yield* this.computeGradsReads(batch, this.estimator.draw());
    this.optimizer.step(grads, lrScale);
    disposeGrads(grads);
    return result;
  }

  /**
   * Free and nudged phases of one batch (or one worker's share of it) with a given draw (the signed β):
   * the mean EP gradient over the batch, its loss and errors. Updates persistent particles
   * unless `init` is given (the data-parallel leader keeps the particles then).
   */
  computeGrads(batch: Batch, draw: EstimatorDraw, init?: State): GradsOfBatch {
    return runSync(this.computeGradsReads(batch, draw, init));
  }

  /** `computeGrads` as a Reads program: what a trainer with another gradient source overrides. */
  *computeGradsReads(batch: Batch, draw: EstimatorDraw, init?: State): Reads<GradsOfBatch> {
    // dropout: this batch's masks, drawn once from the trainer's Rng, serve every phase and the estimate
    const bound = this.net.bind(batch.x, drawDropoutMasks(this.net, batch.labels.length, this.rng));
    const start = init ?? (this.particles ? this.particles.gather(batch.indices) : this.net.zeroState(batch.labels.length));
    try {
      const est = yield* this.estimator.estimateReads(
        {
          bound,
          y: batch.y,
          solver: this.solver,
          init: start,
          free: { maxSteps: this.config.freeSteps, ...this.tolerance() },
          nudged: { maxSteps: this.config.nudgedSteps, ...this.tolerance() },
        },
        draw,
      );
      let result: BatchResult;
      try {
        // one read: loss, predictions and the finiteness of parameters, states, energy, gradients
        result = yield* this.summariseReads(est.free.state, batch, est.free, { bound, grads: est.grads });
      } catch (e) {
        disposeGrads(est.grads);
        disposeRelaxation(est.free);
        throw e;
      } finally {
        est.nudged.forEach(disposeRelaxation);
      }
      try {
        const freeState = yield* this.keepFreeState(batch, est.free.state, init !== undefined);
        return { grads: est.grads, result, freeState };
      } finally {
        disposeRelaxation(est.free);
      }
    } finally {
      if (!init) start.forEach((t) => t.dispose());
      bound.dispose();
    }
  }

  /**
   * Where a batch's free equilibrium goes: back to the caller as arrays when it gave the start
   * (a data-parallel share; the leader keeps the particles), else into the persistent particles.
   */
  protected *keepFreeState(batch: Batch, state: State, toCaller: boolean): Reads<Float32Array[] | undefined> {
    if (toCaller) {
      const arrays: Float32Array[] = [];
      for (const t of state) arrays.push((yield* readValues(t)) as Float32Array);
      return arrays;
    }
    if (this.particles) yield* this.particles.scatterReads(batch.indices, state);
    return undefined;
  }

  /** Free equilibrium of a batch, from zero or from `init` (evaluation, prediction). Caller disposes the state. */
  relaxFree(x: tf.Tensor, steps = this.config.evalSteps ?? this.config.freeSteps, init?: State): State {
    return runSync(this.relaxFreeReads(x, steps, init));
  }

  /** `relaxFree` as a Reads program. */
  *relaxFreeReads(x: tf.Tensor, steps = this.config.evalSteps ?? this.config.freeSteps, init?: State): Reads<State> {
    const bound = this.net.bind(x);
    const start = init ?? this.net.zeroState(x.shape[0]);
    try {
      return (yield* this.solver.relaxReads(bound, start, { maxSteps: steps, ...this.tolerance() })).state;
    } finally {
      if (!init) start.forEach((t) => t.dispose());
      bound.dispose();
    }
  }

  /**
   * Error and mean cost over batches, each relaxed from zero, or with `particles` from each
   * example's stored equilibrium (updated in place; indexed by the batches' indices). Consumes the
   * batches: their x and y are disposed.
   */
  evaluate(batches: Iterable<Batch>, particles?: ParticleStore): EvalResult {
    return runSync(this.evaluateReads(batches, particles));
  }

  /** `evaluate` on any backend (asynchronous reads where the backend needs them). */
  evaluateAsync(batches: Iterable<Batch>, particles?: ParticleStore): Promise<EvalResult> {
    return runOnBackend(this.evaluateReads(batches, particles));
  }

  /** `evaluate` as a Reads program. */
  *evaluateReads(batches: Iterable<Batch>, particles?: ParticleStore): Reads<EvalResult> {
    const total = new EvalTotal();
    for (const batch of batches) {
      try {
        total.add(yield* this.evaluateBatchReads(batch, particles));
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
    }
    return total.result();
  }

  /** Errors and mean cost of one batch at its free equilibrium, as evaluate() (its tensors stay the caller's). */
  evaluateBatch(batch: Batch, particles?: ParticleStore): BatchResult {
    return runSync(this.evaluateBatchReads(batch, particles));
  }

  /** `evaluateBatch` as a Reads program. */
  *evaluateBatchReads(batch: Batch, particles?: ParticleStore): Reads<BatchResult> {
    const init = particles?.gather(batch.indices);
    let state: State | undefined;
    try {
      state = yield* this.relaxFreeReads(batch.x, undefined, init);
      if (particles) yield* particles.scatterReads(batch.indices, state);
      return yield* this.summariseReads(state, batch);
    } finally {
      state?.forEach((t) => t.dispose());
      init?.forEach((t) => t.dispose());
    }
  }

  /**
   * Loss and misclassifications at an equilibrium: one read from the backend. With `check` the
   * same read also tells whether every parameter, every layer's state, the energy and every
   * gradient is finite; NaN or Inf throws a NumericalError naming the first culprit.
   */
  protected *summariseReads(
    state: State,
    batch: Batch,
    relaxation?: Pick<Relaxation, 'steps' | 'meanSteps' | 'residual'>,
    check?: { bound: BoundNetwork; grads: Grads },
  ): Reads<BatchResult> {
    const { net } = this;
    const n = batch.labels.length;
    const grads = check ? Object.keys(check.grads) : [];
    // one read per batch: loss, predictions, and one sum per parameter, state and gradient (NaN and Inf
    // survive a sum), so the hot path pays one reduction per tensor; names come only on failure
    const packed = tf.tidy(() => {
      // a training batch's cost reads its output as the masked network does (dropout)
      const out = check ? check.bound.outputActivity(state) : net.activity(net.depth, state[state.length - 1]);
      const scores = net.cost.scores(out);
      const pred = tf.cast(tf.argMax(scores, 1), 'float32');
      const parts = [tf.reshape(tf.mean(net.cost.cost(out, batch.y)), [1]), pred, classesAbove(scores, batch.y)];
      if (check) {
        const watched = [...Object.values(net.params), ...state, ...grads.map((g) => check.grads[g])];
        parts.push(...watched.map((t) => tf.reshape(tf.sum(t), [1])));
      }
      return tf.concat(parts);
    });
    const values = yield* readOnce(packed);
    let errors = 0;
    let top5Errors = 0;
    for (let i = 0; i < n; i++) {
      if (values[i + 1] !== batch.labels[i]) errors++;
      if (values[n + i + 1] >= 5) top5Errors++;
    }
    if (check && !values.subarray(2 * n + 1).every(Number.isFinite)) yield* this.diagnoseReads(state, check);
    if (check && !Number.isFinite(values[0])) throw new NumericalError(`the cost at the free equilibrium is ${values[0]}`);
    const { steps = 0, meanSteps = 0, residual = Number.NaN } = relaxation ?? {};
    return { loss: values[0], errors, top5Errors, size: n, freeSteps: steps, freeStepsPerExample: meanSteps, residual };
  }

  /** The stopping rule of every phase: tol, per example or for the batch. */
  private tolerance(): Pick<RelaxOptions, 'tol' | 'perExample' | 'predictStops'> {
    return { tol: this.config.tol, perExample: this.config.tolPerExample, predictStops: this.config.predictStops };
  }

  /**
   * The trainer's whole state as plain data, for people's own checkpoints: parameters, optimizer
   * (step count and slots), RNG, persistent particles (TrainerState). Synchronous reads.
   */
  getState(): TrainerState {
    return trainerState(this);
  }

  /** `getState` on any backend (asynchronous reads where the backend's are: WebGPU in Node). */
  getStateAsync(): Promise<TrainerState> {
    return trainerStateAsync(this);
  }

  /** Restores getState's output into this trainer (same model and config), all of it checked before any is written. */
  setState(state: TrainerState): void {
    restoreTrainerState(this, state);
  }

  /**
   * Throws a NumericalError naming the first parameter that holds NaN or Inf (one read). Run it
   * before saving a checkpoint: an update can overflow after the batch's own checks.
   */
  checkParams(): void {
    runSync(this.checkParamsReads());
  }

  /** `checkParams` as a Reads program. */
  *checkParamsReads(): Reads<void> {
    const names = Object.keys(this.net.params);
    const ok = yield* readOnce(tf.tidy(() => tf.stack(names.map((p) => tf.all(tf.isFinite(this.net.params[p]))))));
    const i = ok.findIndex((v) => !v);
    if (i >= 0) throw new NumericalError(`non-finite values (NaN or Inf) in parameter ${names[i]}`);
  }

  /** Names what went non-finite first: a parameter, a layer's state, the energy (and its term), a gradient. */
  private *diagnoseReads(state: State, check: { bound: BoundNetwork; grads: Grads }): Reads<never> {
    const finite = function* (t: tf.Tensor): Reads<boolean> {
      return (yield* readOnce(tf.tidy(() => tf.all(tf.isFinite(t)))))[0] === 1;
    };
    for (const p of Object.keys(this.net.params)) {
      if (!(yield* finite(this.net.params[p]))) throw new NumericalError(`non-finite values (NaN or Inf) in parameter ${p}`);
    }
    for (let l = 0; l < state.length; l++) {
      if (!(yield* finite(state[l]))) throw new NumericalError(`non-finite values (NaN or Inf) in the state of layer ${l + 1} at the free equilibrium`);
    }
    // a vector-field network has no energy to diagnose
    const energy = this.net.hasEnergy ? (yield* readOnce(tf.tidy(() => tf.mean(check.bound.energy(state)))))[0] : 0;
    if (!Number.isFinite(energy))
      throw new NumericalError(`the energy at the free equilibrium is ${energy} (first in ${yield* energyCulprit(check.bound, state)})`);
    for (const g of Object.keys(check.grads)) {
      if (!(yield* finite(check.grads[g]))) throw new NumericalError(`non-finite EP gradient for parameter ${g}`);
    }
    throw new NumericalError('non-finite EP gradient for parameter (sum overflow)');
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** The first term whose energy is not finite at `state` (a diagnosis, run only once it went wrong). */
function* energyCulprit(bound: BoundNetwork, state: State): Reads<string> {
  const { net } = bound;
  const terms = net.energyTerms('naming the term whose energy is not finite');
  const sums = tf.tidy(() => {
    const all = bound.allActs(net.activities(state));
    return tf.stack(terms.map((t) => tf.sum(t.energy(all))));
  });
  const values = yield* readOnce(sums);
  const bad = terms.find((_, i) => !Number.isFinite(values[i]));
  return bad ? `term ${bad.name}, layers ${bad.layers.join(' and ')}` : 'the self term';
}

/**
 * Per example, the rank of its true class (the class where `y` is largest) among the scores: 0
 * when it is predicted, ≥ 5 when it is a top-5 error. Ties go to the lower class index, as
 * argMax breaks them, so rank 0 is exactly a correct argMax and a top-5 error is always a top-1 error.
 */
export function classesAbove(scores: tf.Tensor, y: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const truth = tf.expandDims(tf.argMax(y, 1), 1);
    const index = tf.expandDims(tf.range(0, scores.shape[1]!, 1, 'int32'), 0);
    const isTrue = tf.equal(index, truth);
    const trueScore = tf.max(tf.where(isTrue, scores, tf.fill(scores.shape, Number.NEGATIVE_INFINITY)), 1, true);
    const tiedBefore = tf.logicalAnd(tf.equal(scores, trueScore), tf.less(index, truth));
    return tf.sum(tf.cast(tf.logicalOr(tf.greater(scores, trueScore), tiedBefore), 'float32'), 1) as tf.Tensor1D;
  });
}

/** Running error count and cost over evaluated batches (or shards of them). */
export class EvalTotal {
  private errors = 0;
  private top5Errors = 0;
  /** False once a result without top5Errors was added (a worker's share): the total would be short. */
  private top5Complete = true;
  private loss = 0;
  private count = 0;

  add(r: Pick<BatchResult, 'errors' | 'top5Errors' | 'loss' | 'size'>): void {
    this.errors += r.errors;
    if (r.top5Errors === undefined) this.top5Complete = false;
    else this.top5Errors += r.top5Errors;
    this.loss += r.loss * r.size;
    this.count += r.size;
  }

  result(): EvalResult {
    const n = Math.max(this.count, 1);
    return { error: this.errors / n, ...(this.top5Complete && { top5Error: this.top5Errors / n }), loss: this.loss / n, count: this.count };
  }
}

export function disposeGrads(grads: Grads): void {
  for (const g of Object.values(grads)) g.dispose();
}
