import { addGrads, ConfigError, type Grads, NumericalError, type Reads, readOnce, runSync, type State, tf } from '@eqprop/core';
import type { BoundNetwork, EnergyNetwork } from '@eqprop/energies';
import type { Solver } from '@eqprop/solvers';
import { outputGrad } from './bptt.js';
import { disposeTransition, dynamicsOf } from './dynamics.js';
import { fieldParamVjp, requireSymmetricJacobian } from './field-vjp.js';

export interface RbpOptions {
  /** The solver whose step s ← f(s, θ) defines the fixed point: FixedPoint('synchronous') or GradientDescent(ε). */
  solver: Solver;
  /** Most free steps; the free phase stops earlier once its largest change is ≤ `tol`. */
  freeSteps: number;
  tol?: number;
  /** Most iterations of the adjoint fixed point (default 1000). */
  adjointSteps?: number;
  /**
   * Stop when the largest change of λ is ≤ adjointTol · max|λ| (default 1e-6). An iteration that
   * ends above 1e-3, or whose λ blows up, is a NumericalError: s is not a stable fixed point.
   */
  adjointTol?: number;
  /**
   * false: an adjoint iteration still short of adjointTol after adjointSteps returns its truncated
   * sum (truncated RBP, Liao et al. 2018; `converged` is false) instead of throwing. For training;
   * a gradient oracle stays strict (the default). A λ that blows up throws either way.
   */
  strict?: boolean;
}

export interface RbpResult {
  /** s*, the free equilibrium the gradient is taken at. */
  state: State;
  /** ∂L/∂θ at s* (mean over the batch), the cost's own parameters (a CE readout) included. */
  grads: Grads;
  freeSteps: number;
  /** Largest state change of the last free step. */
  freeResidual: number;
  adjointSteps: number;
  /** Largest change of λ in the last checked iteration, relative to max|λ|. */
  adjointResidual: number;
  /** Both the free phase (if a tol was given) and the adjoint iteration met their tolerances. */
  converged: boolean;
}

/**
 * Recurrent backpropagation (Almeida 1987, Pineda 1987; Liao et al. 2018): the gradient of the
 * loss at the free fixed point s* = f(s*, θ) by implicit differentiation. With J = ∂f/∂s at s*,
 *   λ = (I − Jᵀ)⁻¹ ∂C/∂s*,  found as the fixed point of λ ← ∂C/∂s* + Jᵀλ,
 *   ∂L/∂θ = (∂f/∂θ)ᵀ λ.
 * Jᵀλ and (∂f/∂θ)ᵀλ are the backward step of the solver's own dynamics (the one BPTT uses),
 * taken at s*: so RBP is BPTT at equilibrium with K → ∞, and the true gradient of the loss at the
 * free equilibrium (the reference for EP's estimates). The adjoint iteration converges when f is
 * a contraction at s* (spectral radius of J < 1), as for every solver that converges there.
 */
export function recurrentBackprop(bound: BoundNetwork, y: tf.Tensor, init: State, opts: RbpOptions): RbpResult {
  return runSync(recurrentBackpropReads(bound, y, init, opts));
}

/** `recurrentBackprop` as a Reads program (the free phase's reads, and the adjoint's every 5 steps). */
export function* recurrentBackpropReads(bound: BoundNetwork, y: tf.Tensor, init: State, opts: RbpOptions): Reads<RbpResult> {
  const maxAdjoint = opts.adjointSteps ?? 1000;
  const adjointTol = opts.adjointTol ?? 1e-6;
  if (!Number.isInteger(maxAdjoint) || maxAdjoint < 1) throw new ConfigError(`adjoint steps must be a positive integer, got ${maxAdjoint}`);
  if (!(adjointTol >= 0)) throw new ConfigError(`adjoint tolerance must be ≥ 0, got ${adjointTol}`);
  requireSymmetricJacobian(bound.net);
  const dynamics = dynamicsOf(opts.solver);
  const net = bound.net;
  const free = yield* opts.solver.relaxReads(bound, init, { maxSteps: opts.freeSteps, tol: opts.tol });
  const state = free.state;
  const tr = dynamics.forward(bound, state); // the linearisation of one step at s*
  const g = outputGrad(bound, state, y);
  let lambda = g.map((t) => t.clone());
  let steps = 0;
  let residual = Number.POSITIVE_INFINITY;
  const scale = yield* maxAbs(g);
  try {
    while (steps < maxAdjoint) {
      const back = dynamics.backward(bound, tr, lambda, true);
      const next = tf.tidy(() => back.prev!.map((t, i) => tf.add(g[i], t)));
      [...back.pre, ...back.prev!, ...back.acts, ...back.dir].forEach((t) => t.dispose());
      steps++;
      if (steps % 5 === 0 || steps === maxAdjoint) {
        residual = yield* relativeChange(lambda, next);
        // λ = Σ_k (Jᵀ)^k ∂C/∂s grows without bound when s is not a stable fixed point
        const size = yield* maxAbs(next);
        if (!Number.isFinite(size) || size > 1e4 * Math.max(scale, 1e-12)) {
          next.forEach((t) => t.dispose());
          throw notConverging(steps, residual, free);
        }
      }
      lambda.forEach((t) => t.dispose());
      lambda = next;
      if (residual <= adjointTol) break;
    }
    if (residual > 1e-3 && opts.strict !== false) throw notConverging(steps, residual, free);
    const back = dynamics.backward(bound, tr, lambda, false);
    let grads = fieldParamVjp(bound, back.acts, back.dir);
    [...back.pre, ...back.acts, ...back.dir].forEach((t) => t.dispose());
    if (Object.keys(net.cost.params).length > 0) {
      const readout = tf.tidy(() => net.cost.paramGrads(net.activity(net.depth, state[state.length - 1]), y));
      const all = addGrads(grads, readout);
      [...Object.values(grads), ...Object.values(readout)].forEach((t) => t.dispose());
      grads = all;
    }
    const freeOk = opts.tol === undefined || free.converged;
    return {
      state,
      grads,
      freeSteps: free.steps,
      freeResidual: free.residual,
      adjointSteps: steps,
      adjointResidual: residual,
      converged: freeOk && residual <= adjointTol,
    };
  } catch (e) {
    state.forEach((t) => t.dispose());
    throw e;
  } finally {
    [...g, ...lambda].forEach((t) => t.dispose());
    // the transition borrows s* as `prev`; its own `next` and saved tensors go
    disposeTransition(tr);
  }
}

/** The true gradient of a batch and how far its two iterations got (RbpResult without the state). */
export type TrueGradient = Omit<RbpResult, 'state'>;

/**
 * The true gradient ∂L/∂θ at the free equilibrium of a batch, from zero states (or `init`): a
 * gradient oracle. `converged` says whether the free phase met `tol` (when one is given) and the
 * adjoint iteration `adjointTol`; an adjoint that ends above 1e-3 or blows up throws instead
 * (unless `strict: false`). The caller disposes `grads`.
 */
export function trueGradient(net: EnergyNetwork, batch: { x: tf.Tensor; y: tf.Tensor }, opts: RbpOptions & { init?: State }): TrueGradient {
  const bound = net.bind(batch.x);
  const init = opts.init ?? net.zeroState(batch.x.shape[0]);
  try {
    const { state, ...result } = recurrentBackprop(bound, batch.y, init, opts);
    state.forEach((t) => t.dispose());
    return result;
  } finally {
    if (!opts.init) init.forEach((t) => t.dispose());
    bound.dispose();
  }
}

/** Recurrent backprop as a source of training gradients, shaped like BpttEstimator. */
export class RbpEstimator {
  readonly name = 'rbp';
  constructor(readonly opts: RbpOptions) {
    dynamicsOf(opts.solver); // an unsupported solver fails here, not in the first batch
  }

  estimate(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): { grads: Grads; state: State } {
    return runSync(this.estimateReads(req));
  }

  *estimateReads(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): Reads<{ grads: Grads; state: State }> {
    const r = yield* recurrentBackpropReads(req.bound, req.y, req.init, this.opts);
    return { grads: r.grads, state: r.state };
  }
}

function notConverging(steps: number, residual: number, free: { steps: number; residual: number }): NumericalError {
  return new NumericalError(
    `recurrent backprop: the adjoint iteration does not converge (relative change ${residual.toExponential(2)} after ${steps} steps): the free phase (${free.steps} steps, last change ${free.residual.toExponential(2)}) did not reach a stable fixed point; give it more steps`,
  );
}

function* maxAbs(s: State): Reads<number> {
  return (yield* readOnce(tf.tidy(() => tf.max(tf.stack(s.map((t) => tf.max(tf.abs(t))))))))[0];
}

function* relativeChange(a: State, b: State): Reads<number> {
  const change = tf.tidy(() => {
    const diff = tf.max(tf.stack(a.map((t, i) => tf.max(tf.abs(tf.sub(b[i], t))))));
    const size = tf.max(tf.stack(b.map((t) => tf.max(tf.abs(t)))));
    return tf.div(diff, tf.maximum(size, 1e-30));
  });
  return (yield* readOnce(change))[0];
}
