import { ConfigError, type State, type tf } from '@eqprop/core';
import type { BoundNetwork, Nudge } from '@eqprop/energies';
import { FixedPoint, GradientDescent, type Solver } from '@eqprop/solvers';
import { fixedPointDynamics } from './fixed-point-dynamics.js';
import { gradientDescentDynamics } from './gradient-descent-dynamics.js';

/**
 * One step of a solver, written so that it can be run backward. Every solver step has the shape
 * s_{t+1} = g(u_{t+1}) with u_{t+1} = U(s_t, θ) and g elementwise: u is the field h = ∂Φ/∂s and
 * g = σ for the fixed-point iteration (damped: s_{t+1} = (1−ε)s_t + ε σ(u)); u is s − ε ∂F/∂s and g the clip to the activation's range
 * for gradient descent. ∂L/∂u is what the GDU check compares EP's neural increments against.
 */
export interface Transition {
  /** s_t (borrowed: not disposed with the transition). */
  readonly prev: State;
  /** s_{t+1}. */
  readonly next: State;
  /** What the backward step needs (pre-activations, fields). */
  readonly saved: tf.Tensor[];
}

/** The backward step of a transition, given λ = ∂L/∂s_{t+1}. All tensors are new. */
export interface StepBackward {
  /** ∂L/∂u_{t+1} = g'(u_{t+1}) ⊙ λ. */
  pre: tf.Tensor[];
  /** ∂L/∂s_t = (∂u_{t+1}/∂s_t)ᵀ ∂L/∂u_{t+1}; only when asked for. */
  prev?: State;
  /**
   * The step's parameter gradient in factored form: ∂L/∂θ of this step = (∂h/∂θ at `acts`)ᵀ `dir`
   * with h the field (see fieldParamVjp). Fixed point: acts = s_t, dir = ∂L/∂u. Gradient
   * descent: acts = ρ(s_t), dir = ε ρ'(s_t) ⊙ ∂L/∂u.
   */
  acts: tf.Tensor[];
  dir: tf.Tensor[];
}

export interface Dynamics {
  readonly name: string;
  /** Length of one step in time: 1 for the fixed-point iteration, ε for gradient descent. */
  readonly dt: number;
  /** Exactly the solver's step (same ops, same numbers), keeping what the backward step needs. */
  forward(bound: BoundNetwork, state: State, nudge?: Nudge): Transition;
  backward(bound: BoundNetwork, tr: Transition, lambda: State, wantPrev: boolean): StepBackward;
}

/** The differentiable form of a solver's step; only the steps BPTT can go back through are accepted. */
export function dynamicsOf(solver: Solver): Dynamics {
  if (solver instanceof FixedPoint) {
    if (solver.schedule !== 'synchronous') {
      throw new ConfigError(`BPTT and the GDU check need the synchronous fixed-point schedule (all layers from the same old state), got "${solver.schedule}"`);
    }
    return fixedPointDynamics(solver);
  }
  if (solver instanceof GradientDescent) return gradientDescentDynamics(solver.stepSize);
  throw new ConfigError(`no backward pass for solver "${solver.name}": expected fixed-point (synchronous) or gradient-descent`);
}

export function disposeTransition(tr: Transition): void {
  for (const t of [...tr.next, ...tr.saved]) t.dispose();
}
