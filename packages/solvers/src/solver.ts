import { tf, ConfigError, type State } from '@eqprop/core';
import type { BoundNetwork, Nudge } from '@eqprop/energies';

export interface RelaxOptions {
  /** Upper bound on steps. */
  maxSteps: number;
  /** Stop when the largest state change of a step falls below this (checked every `checkEvery` steps). */
  tol?: number;
  /** How often the residual is read back (each read synchronises with the backend). Default 5. */
  checkEvery?: number;
  /** Nudging toward the target; omitted or β = 0 is the free phase. */
  nudge?: Nudge;
  /** Record the mean total energy F after every step (slow: one read per step). */
  trace?: boolean;
}

export interface Relaxation {
  state: State;
  steps: number;
  /** Largest absolute state change in the last step taken (NaN when not measured). */
  residual: number;
  converged: boolean;
  /** Mean F over the batch: index 0 is the initial state, then one value per step. */
  trace?: number[];
}

/** A relaxation algorithm. It takes ownership of nothing: `init` stays valid, the result is new. */
export interface Solver {
  readonly name: string;
  relax(bound: BoundNetwork, init: State, opts: RelaxOptions): Relaxation;
}

export function validateRelaxOptions(opts: RelaxOptions): void {
  if (!Number.isInteger(opts.maxSteps) || opts.maxSteps < 0) {
    throw new ConfigError(`maxSteps must be a non-negative integer, got ${opts.maxSteps}`);
  }
  if (opts.tol !== undefined && !(opts.tol >= 0)) throw new ConfigError(`tol must be ≥ 0, got ${opts.tol}`);
  if (opts.checkEvery !== undefined && !(Number.isInteger(opts.checkEvery) && opts.checkEvery > 0)) {
    throw new ConfigError(`checkEvery must be a positive integer, got ${opts.checkEvery}`);
  }
}

/**
 * The loop shared by every solver: apply `step` up to maxSteps times, reading the residual back
 * only when a tolerance asks for it (every read stalls the backend) and at the end.
 */
export function iterate(
  bound: BoundNetwork,
  init: State,
  opts: RelaxOptions,
  step: (state: State) => State,
): Relaxation {
  validateRelaxOptions(opts);
  const checkEvery = opts.checkEvery ?? 5;
  const trace = opts.trace ? [meanEnergy(bound, init, opts.nudge)] : undefined;
  let state = init.map((s) => s.clone());
  let residual = Number.NaN;
  let converged = false;
  let steps = 0;
  while (steps < opts.maxSteps) {
    const next = step(state);
    steps++;
    const last = steps === opts.maxSteps;
    if (last || (opts.tol !== undefined && steps % checkEvery === 0)) {
      residual = maxChange(state, next);
      converged = opts.tol !== undefined && residual <= opts.tol;
    }
    for (const s of state) s.dispose();
    state = next;
    if (trace) trace.push(meanEnergy(bound, state, opts.nudge));
    if (converged) break;
  }
  return { state, steps, residual, converged, trace };
}

function maxChange(a: State, b: State): number {
  return tf.tidy(() => {
    const parts = a.map((s, i) => tf.max(tf.abs(tf.sub(b[i], s))));
    return tf.max(tf.stack(parts)).dataSync()[0];
  });
}

function meanEnergy(bound: BoundNetwork, state: State, nudge?: Nudge): number {
  return tf.tidy(() => tf.mean(bound.totalEnergy(state, nudge)).dataSync()[0]);
}
