import { ConfigError, type Grads, type Reads, runSync, type State, type tf } from '@eqprop/core';
import { type BoundNetwork, MseCost } from '@eqprop/energies';
import type { Solver } from '@eqprop/solvers';
import { dynamicsOf } from './dynamics.js';

export interface ChlOptions {
  /** The relaxation of both phases: FixedPoint('synchronous') or GradientDescent(ε). */
  solver: Solver;
  /** Steps of the free phase (from `init`). */
  freeSteps: number;
  /** Steps of the clamped phase (from the free state, the output held at the target). */
  clampedSteps: number;
  /** Optional early stop of the free phase. */
  tol?: number;
}

export interface ChlResult {
  /** ∂E/∂θ(clamped) − ∂E/∂θ(free), mean over the batch: an optimizer step θ ← θ − lr·g is CHL's update. */
  grads: Grads;
  free: State;
  clamped: State;
}

/** Throws unless the network's output layer can be clamped to a target (an MSE cost on the last layer). */
export function checkClampable(bound: BoundNetwork, y: tf.Tensor): void {
  const net = bound.net;
  if (!(net.cost instanceof MseCost)) {
    throw new ConfigError(
      `contrastive Hebbian learning clamps the output layer to the target: it needs the MSE cost, got "${net.cost.name}" (a readout is not a layer of the energy)`,
    );
  }
  const n = net.layerShapes[net.depth - 1].reduce((a, b) => a * b, 1);
  if (y.shape[1] !== n) throw new ConfigError(`cannot clamp an output layer of ${n} units to targets of ${y.shape[1]} classes`);
}

/**
 * The clamped phase: the solver's own step on every layer, the output layer reset to the target
 * y after each step (and before the first), for `steps` steps from `init`.
 */
export function relaxClamped(bound: BoundNetwork, init: State, y: tf.Tensor, solver: Solver, steps: number): State {
  checkClampable(bound, y);
  const dynamics = dynamicsOf(solver);
  const L = init.length;
  const clampOut = (s: State) => [...s.slice(0, L - 1), y.reshape(s[L - 1].shape)];
  let state: State = clampOut(init.map((t, i) => (i < L - 1 ? t.clone() : t)));
  for (let t = 0; t < steps; t++) {
    const tr = dynamics.forward(bound, state);
    tr.saved.forEach((s) => s.dispose());
    tr.next[L - 1].dispose();
    state.slice(0, L - 1).forEach((s) => s.dispose());
    state[L - 1].dispose();
    state = clampOut(tr.next);
  }
  return state;
}

/**
 * Contrastive Hebbian learning (Movellan 1991; Baldi & Pineda 1991; Xie & Seung 2003): a free
 * phase, then a phase with the output clamped to the target; the update is
 * Δθ ∝ ∂E/∂θ(free) − ∂E/∂θ(clamped). It returns g = ∂E/∂θ(clamped) − ∂E/∂θ(free), so that a
 * gradient step θ ← θ − lr·g is that update. EP with β → ∞ and without the 1/β.
 */
export function contrastiveHebbian(bound: BoundNetwork, y: tf.Tensor, init: State, opts: ChlOptions): ChlResult {
  return runSync(contrastiveHebbianReads(bound, y, init, opts));
}

/** `contrastiveHebbian` as a Reads program (its reads: the free phase's). */
export function* contrastiveHebbianReads(bound: BoundNetwork, y: tf.Tensor, init: State, opts: ChlOptions): Reads<ChlResult> {
  checkClampable(bound, y);
  const free = (yield* opts.solver.relaxReads(bound, init, { maxSteps: opts.freeSteps, tol: opts.tol })).state;
  const clamped = relaxClamped(bound, free, y, opts.solver, opts.clampedSteps);
  const grads = bound.paramGradsDiff(clamped, free, 1);
  return { grads, free, clamped };
}

/** CHL as a source of training gradients, shaped like BpttEstimator. */
export class ChlEstimator {
  readonly name = 'chl';
  constructor(readonly opts: ChlOptions) {
    for (const [k, v] of [
      ['free', opts.freeSteps],
      ['clamped', opts.clampedSteps],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${k} steps must be a positive integer, got ${v}`);
    }
    dynamicsOf(opts.solver);
  }

  estimate(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): { grads: Grads; state: State } {
    return runSync(this.estimateReads(req));
  }

  *estimateReads(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): Reads<{ grads: Grads; state: State }> {
    const r = yield* contrastiveHebbianReads(req.bound, req.y, req.init, this.opts);
    r.clamped.forEach((t) => t.dispose());
    return { grads: r.grads, state: r.free };
  }
}
