import { type Batch, ConfigError, type Grads, type Params, type Reads, readValues, tf } from '@eqprop/core';
import type { EnergyNetwork, MseCost } from '@eqprop/energies';
import { type EpEstimate, FusedEpStep, FusedOptimizer, FusedSolver, type KernelsMode, KernelTeam, withKernels } from '@eqprop/kernels';
import {
  type BatchResult,
  type Estimator,
  OneSidedEstimator,
  Optimizer,
  type OptimizerConfig,
  type OptimizerState,
  parameterGroups,
  RandomSignEstimator,
  SymmetricEstimator,
  Trainer,
  type TrainerConfig,
  type TrainerOptions,
} from '@eqprop/learning';
import type { Solver } from '@eqprop/solvers';

/**
 * Learning's Optimizer with its step in @eqprop/kernels (one SIMD pass per parameter, on the
 * team's threads). Its own tfjs slots hold the moments only when a checkpoint asks for them
 * (getState, slotTensors) or a resume sets them (setState), so checkpoints are those of the tfjs path.
 */
export class FusedStepOptimizer extends Optimizer {
  readonly fused: FusedOptimizer;

  constructor(config: OptimizerConfig, params: Params, groupOf: Record<string, number>, team: KernelTeam = KernelTeam.single()) {
    super(config, params, groupOf);
    this.fused = new FusedOptimizer(config, params, (name, scale) => this.lrOf(name, scale), team);
  }

  override step(grads: Grads, lrScale = 1): void {
    this.fused.step(grads, lrScale);
  }

  /** Copies the fused moments into the tfjs slots (in the parameters' order, as Optimizer keeps them). */
  private syncSlots(): void {
    const slots = super.slotTensors() as tf.Variable[];
    let i = 0;
    for (const name of Object.keys(this.fused.slotNames())) {
      for (const m of this.fused.moments(name)) {
        const v = slots[i++];
        const t = tf.tensor(m, v.shape);
        v.assign(t);
        t.dispose();
      }
    }
  }

  override slotTensors(): tf.Tensor[] {
    this.syncSlots();
    return super.slotTensors();
  }

  override getState(): OptimizerState {
    this.syncSlots();
    return { ...super.getState(), t: this.fused.steps };
  }

  override setState(state: OptimizerState): void {
    super.setState(state); // checks it all first
    const slots = super.slotTensors();
    let i = 0;
    const moments: Record<string, Float32Array[]> = {};
    for (const name of Object.keys(this.fused.slotNames())) moments[name] = this.fused.moments(name).map(() => slots[i++].dataSync() as Float32Array);
    this.fused.restore(state.t, moments);
  }

  override dispose(): void {
    super.dispose();
    this.fused.dispose();
  }
}

/** The backends whose tensors the kernels can read synchronously. */
function onHost(): boolean {
  return ['wasm', 'cpu', 'tensorflow'].includes(tf.getBackend());
}

/** The estimate FusedEpStep computes for an estimator of these classes (their own, not subclasses), or undefined. */
function fusedEstimate(estimator: Estimator): EpEstimate['kind'] | undefined {
  const c = estimator.constructor;
  if (c === OneSidedEstimator || c === RandomSignEstimator) return 'one-sided';
  if (c === SymmetricEstimator) return 'symmetric';
  return undefined;
}

/**
 * The Trainer with `--kernels`: relaxations by @eqprop/kernels' fused fixed-point or
 * gradient-descent path where it applies (FusedFixedPoint and FusedGradientDescent fall back to
 * tfjs ops per batch unless `fused` is forced), and the
 * optimizer step fused on CPU backends (with `auto`, Adam's only); where the whole batch can be
 * (a dense network the fused solver relaxes, the one-sided, random-sign or symmetric estimator), a training batch is one
 * FusedEpStep: projection, phases and gradients in the kernels, then the fused update (whatever
 * the optimizer: its gradients are in kernel memory already). The kernels run on `team`'s threads;
 * the trainer owns the team and disposes it.
 */
export class KernelTrainer extends Trainer {
  declare readonly solver: Solver;
  declare readonly optimizer: Optimizer;
  /** The whole training batch in the kernels, where it applies. */
  readonly epStep?: FusedEpStep;
  private readonly estimateKind?: EpEstimate['kind'];

  constructor(
    net: EnergyNetwork,
    config: TrainerConfig,
    opts: TrainerOptions,
    readonly kernels: KernelsMode,
    readonly team: KernelTeam = KernelTeam.single(),
  ) {
    super(net, config, opts);
    if (kernels === 'tfjs') return;
    if (!onHost()) {
      if (kernels === 'fused')
        throw new ConfigError(`--kernels fused runs on the CPU backends (wasm, cpu, tensorflow), not ${tf.getBackend()}: use --kernels auto or tfjs`);
      return;
    }
    this.solver = withKernels(this.solver, kernels, team);
    const kind = fusedEstimate(this.estimator);
    const whole = kind !== undefined && this.solver instanceof FusedSolver && FusedEpStep.unfusedReason(net, this.solver) === undefined;
    // auto fuses Adam only where the batch is not fused whole: an SGD step is two tfjs ops, and
    // reading and writing every parameter cost more than it saves (scellier2017-1h, SGD at batch
    // 20: 20.0 s per epoch fused against 15.8 s with tfjs ops, one bench run); Adam's eleven ops
    // per parameter are what it removes. A whole fused batch has its gradients in kernel memory.
    if (kernels === 'auto' && config.optimizer.kind !== 'adam' && !whole) return;
    const tfjsOptimizer = this.optimizer;
    const optimizer = new FusedStepOptimizer(config.optimizer, net.params, parameterGroups(net), team);
    this.optimizer = optimizer;
    tfjsOptimizer.dispose();
    if (whole) {
      this.epStep = new FusedEpStep(net, this.solver as FusedSolver, optimizer.fused);
      this.estimateKind = kind;
    }
  }

  /** A training batch: one FusedEpStep and the fused update where it applies, Trainer's otherwise. */
  override *trainBatchReads(batch: Batch, lrScale = 1): Reads<BatchResult> {
    if (!this.epStep) return yield* super.trainBatchReads(batch, lrScale);
    const beta = this.estimator.draw() as number;
    const n = batch.labels.length;
    let init: Float32Array[] | undefined;
    if (this.particles) {
      const start = this.particles.gather(batch.indices);
      init = [];
      for (const s of start) init.push((yield* readValues(s)) as Float32Array);
      start.forEach((t) => t.dispose());
    }
    const { tol, tolPerExample: perExample, predictStops } = this.config;
    const r = this.epStep.run(
      batch.x,
      batch.y,
      { kind: this.estimateKind!, beta },
      { maxSteps: this.config.freeSteps, tol, perExample, predictStops },
      { maxSteps: this.config.nudgedSteps, tol, perExample, predictStops },
      init,
    );
    const y = (yield* readValues(batch.y)) as Float32Array;
    const result = summary(r.freeState[r.freeState.length - 1], y, batch.labels, (this.net.cost as MseCost).weight);
    if (this.particles) {
      const state = r.freeState.map((v, i) => tf.tensor(v, [n, ...this.net.layerShapes[i]]));
      yield* this.keepFreeState(batch, state, false);
      state.forEach((t) => t.dispose());
    }
    (this.optimizer as FusedStepOptimizer).fused.stepSlots(lrScale);
    return { ...result, freeSteps: r.free.steps, freeStepsPerExample: r.free.meanSteps, residual: r.free.residual };
  }

  override dispose(): void {
    super.dispose();
    this.epStep?.dispose();
    this.team.dispose();
  }
}

/**
 * Loss and misclassifications of a batch from its free output, as Trainer's summary computes them
 * with tfjs ops for an MSE cost: the mean of w·‖out − y‖², the first largest output as the
 * prediction, and the classes scoring above the true one (ties before it count) for the top 5.
 */
export function summary(
  out: Float32Array,
  y: Float32Array,
  labels: ArrayLike<number>,
  weight: number,
): Pick<BatchResult, 'loss' | 'errors' | 'top5Errors' | 'size'> {
  const n = labels.length;
  const c = out.length / n;
  let loss = 0;
  let errors = 0;
  let top5Errors = 0;
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * c, (i + 1) * c);
    const target = y.subarray(i * c, (i + 1) * c);
    let sq = 0;
    let pred = 0;
    let truth = 0;
    for (let j = 0; j < c; j++) {
      sq += (row[j] - target[j]) ** 2;
      if (row[j] > row[pred]) pred = j;
      if (target[j] > target[truth]) truth = j;
    }
    loss += weight * sq;
    if (pred !== labels[i]) errors++;
    let above = 0;
    for (let j = 0; j < c; j++) if (row[j] > row[truth] || (row[j] === row[truth] && j < truth)) above++;
    if (above >= 5) top5Errors++;
  }
  return { loss: loss / n, errors, top5Errors, size: n };
}
