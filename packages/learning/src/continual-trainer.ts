import { type Batch, ConfigError, type Grads, type Reads, runSync, type State, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import type { Relaxation } from '@eqprop/solvers';
import { costParamGrads, disposeRelaxation, type EstimatorDraw } from './estimators.js';
import { type BatchResult, disposeGrads, type GradsOfBatch, Trainer, type TrainerConfig, type TrainerOptions } from './trainer.js';

/**
 * Continual EP (C-EP; Ernoult et al. 2020, "Equilibrium Propagation with Continual Weight
 * Updates"). After the free phase, every step t of the nudged phase moves the weights by the
 * local increment g_t = (∂E/∂θ(s_{t+1}) − ∂E/∂θ(s_t)) / β (θ ← θ − η·g_t), and the next step
 * relaxes with the moved weights. With η → 0 the increments telescope to EP's one-sided estimate
 * (∂E/∂θ(s_K) − ∂E/∂θ(s_0)) / β; with small η and β the update follows the gradient (GDCU).
 *
 * Weight decay, as the reference code applies it (Laborieux's `main.py`, `--alg CEP --wds`): a
 * nudged phase of K steps shrinks the weights by (1 − 0.1·wd) in all, d = (1 − 0.1·wd)^(1/K) per
 * step, and step t's increment is divided by d^(K−1−t), so that the decay of the later steps does
 * not shrink it: at the end of the phase θ = d^K·θ₀ − η·Σ_t g_t. `optimizer.weightDecay` is that wd.
 *
 * Supports primitive-form networks relaxed by the fixed-point solver (the paper's discrete-time
 * dynamics), plain SGD, the one-sided nudge. The nudged phase runs exactly `nudgedSteps` steps,
 * one solver step at a time (one residual read per step), the network rebound after each update
 * (its cached weight-derived tensors change). The readout of a cross-entropy cost (outside the
 * energy) gets its gradient at the free state with the first step. No data-parallel gradients: the
 * weights move inside the phase, so a batch has no single gradient to share.
 */
export class ContinualTrainer extends Trainer {
  /** The reference's per-batch weight decay wd (config.optimizer.weightDecay), applied per step as above. */
  readonly weightDecay: number;

  constructor(net: EnergyNetwork, config: TrainerConfig, opts: TrainerOptions) {
    checkContinual(net, config);
    // the decay is applied here, per step, not by the optimizer
    super(net, { ...config, optimizer: { ...config.optimizer, weightDecay: 0 } }, opts);
    this.weightDecay = config.optimizer.weightDecay ?? 0;
  }

  /** Free phase, then K nudged steps, each followed by its weight update. */
  override *trainBatchReads(batch: Batch, lrScale = 1): Reads<BatchResult> {
    return (yield* this.continualReads(batch, lrScale)).result;
  }

  /**
   * `trainBatch` that also returns Σ_t g_t, the sum of the raw increments of the nudged phase
   * (before the decay compensation and the learning rate; the caller disposes it): what tests and
   * analyses compare with EP's estimate.
   */
  trainBatchTraced(batch: Batch, lrScale = 1): { result: BatchResult; increments: Grads } {
    const out = runSync(this.continualReads(batch, lrScale, {}));
    return { result: out.result, increments: out.sum! };
  }

  /** C-EP has no per-batch gradient (the weights move inside the phase): no data-parallel shares. */
  override computeGradsReads(_batch: Batch, _draw: EstimatorDraw, _init?: State): Reads<GradsOfBatch> {
    throw new ConfigError(
      'continual EP (cep) updates the weights inside the nudged phase: it has no per-batch gradient to share with data-parallel workers (use --workers 1)',
    );
  }

  private *continualReads(batch: Batch, lrScale: number, sum?: Grads): Reads<{ result: BatchResult; sum?: Grads }> {
    const n = batch.labels.length;
    const start = this.particles ? this.particles.gather(batch.indices) : this.net.zeroState(n);
    let bound = this.net.bind(batch.x);
    let free: Relaxation | undefined;
    try {
      const tol = { tol: this.config.tol, perExample: this.config.tolPerExample, predictStops: this.config.predictStops };
      free = yield* this.solver.relaxReads(bound, start, { maxSteps: this.config.freeSteps, ...tol });
      // loss and errors at the free equilibrium, with the weights the batch started from
      const result = yield* this.summariseReads(free.state, batch, free, { bound, grads: {} });
      yield* this.keepFreeState(batch, free.state, false);
      const beta = this.estimator.draw() as number;
      const K = this.config.nudgedSteps;
      const decay = this.weightDecay ? (1 - 0.1 * this.weightDecay) ** (1 / K) : 1;
      let prev = free.state;
      try {
        for (let t = 0; t < K; t++) {
          if (t > 0) {
            bound.dispose();
            bound = this.net.bind(batch.x);
          }
          const next = (yield* this.solver.relaxReads(bound, prev, { maxSteps: 1, nudge: { beta, y: batch.y } })).state;
          const inc = bound.paramGradsDiff(next, prev, 1 / beta);
          if (t === 0) Object.assign(inc, costParamGrads(bound, free.state, batch.y));
          if (prev !== free.state) prev.forEach((s) => s.dispose());
          prev = next;
          if (sum) accumulate(sum, inc);
          this.applyIncrement(inc, decay, K - 1 - t, lrScale);
        }
      } finally {
        if (prev !== free.state) prev.forEach((s) => s.dispose());
      }
      return { result, sum };
    } catch (e) {
      if (sum) disposeGrads(sum);
      throw e;
    } finally {
      if (free) disposeRelaxation(free);
      start.forEach((t) => t.dispose());
      bound.dispose();
    }
  }

  /** θ ← d·θ − η·g/d^later (SGD with the reference's compensated decay); disposes `inc`. */
  private applyIncrement(inc: Grads, decay: number, later: number, lrScale: number): void {
    if (decay !== 1) {
      tf.tidy(() => {
        for (const p of Object.values(this.net.params)) p.assign(tf.mul(p, decay));
      });
      const scale = decay ** -later;
      for (const [name, g] of Object.entries(inc)) {
        inc[name] = tf.mul(g, scale);
        g.dispose();
      }
    }
    try {
      this.optimizer.step(inc, lrScale);
    } finally {
      disposeGrads(inc);
    }
  }
}

/** Adds `inc` into `sum` (created on first use), keeping `inc`. */
function accumulate(sum: Grads, inc: Grads): void {
  for (const [name, g] of Object.entries(inc)) {
    const old = sum[name];
    sum[name] = old ? tf.add(old, g) : g.clone();
    old?.dispose();
  }
}

/** One line for what C-EP does not cover. */
function checkContinual(net: EnergyNetwork, config: TrainerConfig): void {
  if (net.dropout) throw new ConfigError('continual EP (cep) rebinds the network at every nudged step and draws no dropout masks: give the model no dropout');
  if (net.form !== 'primitive')
    throw new ConfigError(`continual EP (cep) needs a primitive-form network (the discrete-time dynamics s = σ(∂Φ/∂s)), got form "${net.form}"`);
  if (config.solver.kind !== 'fixed-point') throw new ConfigError(`continual EP (cep) relaxes with the fixed-point solver, got "${config.solver.kind}"`);
  if (config.estimator !== 'one-sided')
    throw new ConfigError(`continual EP (cep) nudges once with +β (its increments telescope to the one-sided estimate), got estimator "${config.estimator}"`);
  if (config.optimizer.kind !== 'sgd')
    throw new ConfigError(
      `continual EP (cep) updates the weights at every nudged step with plain SGD (the reference's), got optimizer "${config.optimizer.kind}"`,
    );
  const wd = config.optimizer.weightDecay ?? 0;
  if (!(wd >= 0 && 0.1 * wd < 1)) throw new ConfigError(`continual EP (cep) weight decay must be in [0, 10) (the phase shrinks θ by 1 − 0.1·wd), got ${wd}`);
}
