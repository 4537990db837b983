import type { Batch, Grads, Reads, State, tf } from '@eqprop/core';
import type { BoundNetwork, EnergyNetwork } from '@eqprop/energies';
import { type GradsOfBatch, Trainer, type TrainerConfig, type TrainerOptions } from '@eqprop/learning';
import type { Solver } from '@eqprop/solvers';

/** Anything that turns a batch into training gradients at a free state (BPTT, RBP, CHL estimators). */
export interface GradientSource {
  readonly name: string;
  /** The gradients and the free state, as a Reads program (asynchronous reads on WebGPU). */
  estimateReads(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): Reads<{ grads: Grads; state: State }>;
}

/**
 * The EP trainer with its gradient taken from another source: the model, solver, optimizer
 * (per-layer rates), persistent particles, evaluation (free phase from zero) and data order stay
 * EP's, so the algorithms of a comparison differ in the gradient only. The source is made from
 * the trainer's solver.
 */
export class SourceTrainer extends Trainer {
  readonly source: GradientSource;

  constructor(net: EnergyNetwork, config: TrainerConfig, opts: TrainerOptions, makeSource: (solver: Solver) => GradientSource) {
    super(net, config, opts);
    this.source = makeSource(this.solver);
  }

  override *computeGradsReads(batch: Batch, _beta: number, init?: State): Reads<GradsOfBatch> {
    const bound = this.net.bind(batch.x);
    const start = init ?? (this.particles ? this.particles.gather(batch.indices) : this.net.zeroState(batch.labels.length));
    try {
      const est = yield* this.source.estimateReads({ bound, y: batch.y, init: start });
      try {
        // the EP trainer's one-read summary, with its NaN/Inf checks on parameters, states and gradients
        const relaxation = { steps: this.config.freeSteps, meanSteps: this.config.freeSteps, residual: Number.NaN };
        const result = yield* this.summariseReads(est.state, batch, relaxation, { bound, grads: est.grads });
        const freeState = yield* this.keepFreeState(batch, est.state, init !== undefined);
        return { grads: est.grads, result, freeState };
      } catch (e) {
        Object.values(est.grads).forEach((t) => t.dispose());
        if (e instanceof Error) e.message = `${this.source.name}: ${e.message}`;
        throw e;
      } finally {
        est.state.forEach((t) => t.dispose());
      }
    } finally {
      if (!init) start.forEach((t) => t.dispose());
      bound.dispose();
    }
  }
}
