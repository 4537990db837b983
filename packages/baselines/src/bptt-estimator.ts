import { type Grads, type Reads, runSync, type State, type tf } from '@eqprop/core';
import type { BoundNetwork } from '@eqprop/energies';
import type { Solver } from '@eqprop/solvers';
import { bpttReads, checkBpttSteps } from './bptt.js';
import { dynamicsOf } from './dynamics.js';

export interface BpttEstimate {
  /** ∂L/∂θ by truncated BPTT, averaged over the batch: what an optimizer steps with. */
  grads: Grads;
  /** s_T, the free state the loss is taken at (for the loss, predictions, persistent particles). */
  state: State;
}

/**
 * BPTT as a drop-in source of gradients for training: T free steps of the solver's dynamics,
 * then back through the last K. It only produces gradients; applying them (learning's Optimizer,
 * per-layer rates) is the caller's, so the arrows between packages stay one-way.
 */
export class BpttEstimator {
  readonly name = 'bptt';
  constructor(
    readonly solver: Solver,
    readonly freeSteps: number,
    readonly truncation: number,
  ) {
    checkBpttSteps(freeSteps, truncation);
    dynamicsOf(solver); // an unsupported solver fails here, not in the first batch
  }

  estimate(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): BpttEstimate {
    return runSync(this.estimateReads(req));
  }

  *estimateReads(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): Reads<BpttEstimate> {
    const r = yield* bpttReads(req.bound, req.y, req.init, { solver: this.solver, freeSteps: this.freeSteps, truncation: this.truncation });
    return { grads: r.grads, state: r.state };
  }
}
