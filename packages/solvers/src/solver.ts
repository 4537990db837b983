import { ConfigError, type Reads, readOnce, runSync, type State, takeRows, tf } from '@eqprop/core';
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
  /**
   * Apply `tol` to each example on its own: an example whose largest state change falls below it
   * stops moving and leaves the batch, so later steps cost only what is still relaxing (examples
   * settle at very different times: on a trained convnet 52–103 steps within one batch of 20).
   * Checked every `checkEvery` steps. Needs `tol`; not with `trace` (the energy is of the batch).
   */
  perExample?: boolean;
  /**
   * With `perExample` (default true): read each example's residual when its decay predicts it will
   * cross `tol`, at most `checkEvery` steps on (StopPredictor); false: every `checkEvery` steps.
   */
  predictStops?: boolean;
  /**
   * Hold one free layer at a given state for the whole relaxation while the others relax (coupled
   * learning's clamped output): it starts at `value` and no step moves it.
   */
  clamp?: Clamp;
}

/** A free layer held fixed during a relaxation. */
export interface Clamp {
  /** The free layer, 1 … depth (the output is `depth`). */
  layer: number;
  /** Its state, the layer's shape for the whole batch (the caller's, never disposed here). */
  value: tf.Tensor;
}

export interface Relaxation {
  state: State;
  steps: number;
  /** Largest absolute state change in the last step taken (NaN when not measured). */
  residual: number;
  converged: boolean;
  /** Steps per example, averaged over the batch: `steps` unless `perExample` retired examples early. */
  meanSteps: number;
  /** Mean F over the batch: index 0 is the initial state, then one value per step. */
  trace?: number[];
}

/**
 * A relaxation algorithm. It takes ownership of nothing: `init` stays valid, the result is new.
 * `relaxReads` is the relaxation as a Reads program (its residual reads are yielded), which
 * `runAsync` drives on backends without synchronous reads (WebGPU in Node); `relax` runs it with
 * synchronous reads.
 */
export interface Solver {
  readonly name: string;
  relax(bound: BoundNetwork, init: State, opts: RelaxOptions): Relaxation;
  relaxReads(bound: BoundNetwork, init: State, opts: RelaxOptions): Reads<Relaxation>;
}

/** A solver defined by one step: checks the network once, then iterates the step (relax and relaxReads written once). */
export abstract class StepSolver implements Solver {
  abstract readonly name: string;

  /** Throws a ConfigError when this solver cannot relax `bound`'s network. */
  protected abstract check(bound: BoundNetwork): void;

  /** One step of every layer, from `state`. */
  protected abstract step(state: State, bound: BoundNetwork, nudge?: Nudge, clamp?: Clamp): State;

  relax(bound: BoundNetwork, init: State, opts: RelaxOptions): Relaxation {
    return runSync(this.relaxReads(bound, init, opts));
  }

  relaxReads(bound: BoundNetwork, init: State, opts: RelaxOptions): Reads<Relaxation> {
    this.check(bound);
    return iterateReads(bound, init, opts, (state, b, nudge, clamp) => this.step(state, b, nudge, clamp));
  }
}

export function validateRelaxOptions(opts: RelaxOptions): void {
  if (!Number.isInteger(opts.maxSteps) || opts.maxSteps < 0) {
    throw new ConfigError(`maxSteps must be a non-negative integer, got ${opts.maxSteps}`);
  }
  if (opts.tol !== undefined && !(opts.tol >= 0)) throw new ConfigError(`tol must be ≥ 0, got ${opts.tol}`);
  if (opts.checkEvery !== undefined && !(Number.isInteger(opts.checkEvery) && opts.checkEvery > 0)) {
    throw new ConfigError(`checkEvery must be a positive integer, got ${opts.checkEvery}`);
  }
  if (opts.perExample && opts.tol === undefined) throw new ConfigError('a per-example tolerance needs tol');
  if (opts.perExample && opts.trace) throw new ConfigError('an energy trace is of the whole batch: it cannot be combined with perExample');
}

/**
 * One step of a solver: the next state of the examples `bound` holds, nudged by `nudge` if given.
 * With `clamp`, the loop puts the held layer back after the step; a step that updates layers in
 * turn (alternating) must leave it as it is, so that later layers of the step see it.
 */
export type Step = (state: State, bound: BoundNetwork, nudge?: Nudge, clamp?: Clamp) => State;

/** `iterateReads` with synchronous reads. */
export function iterate(bound: BoundNetwork, init: State, opts: RelaxOptions, step: Step): Relaxation {
  return runSync(iterateReads(bound, init, opts, step));
}

/**
 * The loop shared by every solver: apply `step` up to maxSteps times, reading the residual back
 * only when a tolerance asks for it (every read stalls the backend) and at the end. Options are
 * checked when called, before the first read.
 */
export function iterateReads(bound: BoundNetwork, init: State, opts: RelaxOptions, step: Step): Reads<Relaxation> {
  validateRelaxOptions(opts);
  if (opts.trace) bound.net.requireEnergy('an energy trace (RelaxOptions.trace)');
  if (opts.clamp) checkClamp(opts.clamp, init);
  return opts.perExample ? iteratePerExample(bound, init, opts, step) : iterateBatch(bound, init, opts, step);
}

function* iterateBatch(bound: BoundNetwork, init: State, opts: RelaxOptions, step: Step): Reads<Relaxation> {
  const checkEvery = opts.checkEvery ?? 5;
  const trace = opts.trace ? [yield* meanEnergy(bound, init, opts.nudge)] : undefined;
  let state = holdClamped(
    init.map((s) => s.clone()),
    opts.clamp,
  );
  let residual = Number.NaN;
  let converged = false;
  let steps = 0;
  try {
    while (steps < opts.maxSteps) {
      const next = holdClamped(step(state, bound, opts.nudge, opts.clamp), opts.clamp);
      steps++;
      const last = steps === opts.maxSteps;
      const due = last || (opts.tol !== undefined && steps % checkEvery === 0);
      const change = due ? maxChange(state, next) : undefined;
      for (const s of state) s.dispose();
      state = next;
      if (change) {
        residual = (yield* readOnce(change))[0];
        converged = opts.tol !== undefined && residual <= opts.tol;
      }
      if (trace) trace.push(yield* meanEnergy(bound, state, opts.nudge));
      if (converged) break;
    }
  } catch (e) {
    for (const s of state) s.dispose();
    throw e;
  }
  return { state, steps, residual, converged, meanSteps: steps, trace };
}

/** The examples still relaxing: their rows of the original batch, their state, input, nudge and clamp. */
interface ActiveSet {
  rows: number[];
  state: State;
  bound: BoundNetwork;
  nudge?: Nudge;
  clamp?: Clamp;
}

/**
 * `iterate` with the tolerance applied per example. Settled examples are set aside (their rows
 * gathered out); the rest go on with a BoundNetwork of their own rows, so a step costs what is
 * still moving. The result is put back in the batch's order.
 */
function* iteratePerExample(bound: BoundNetwork, init: State, opts: RelaxOptions, step: Step): Reads<Relaxation> {
  const tol = opts.tol!;
  const checkEvery = opts.checkEvery ?? 5;
  const n = bound.batchSize;
  let active: ActiveSet = {
    rows: Array.from({ length: n }, (_, i) => i),
    state: holdClamped(
      init.map((s) => s.clone()),
      opts.clamp,
    ),
    bound,
    nudge: opts.nudge,
    clamp: opts.clamp,
  };
  const settled: { rows: number[]; state: State }[] = [];
  let steps = 0;
  let exampleSteps = 0;
  let settledResidual = 0; // the largest change at which an example was set aside
  let lastResidual = Number.NaN; // the largest change at the last check
  let converged = false;
  // each example's own check schedule (indexed by its row in the batch), so that when it stops
  // depends on nothing but its own trajectory: a share of a batch stops exactly as the whole would
  const schedule = Array.from({ length: n }, () => new StopPredictor(tol, checkEvery, opts.predictStops ?? true));
  while (steps < opts.maxSteps) {
    const next = holdClamped(step(active.state, active.bound, active.nudge, active.clamp), active.clamp);
    steps++;
    exampleSteps += active.rows.length;
    const last = steps === opts.maxSteps;
    const due = active.rows.map((row) => last || schedule[row].due(steps));
    const changeT = due.some(Boolean) ? changePerExample(active.state, next) : undefined;
    for (const s of active.state) s.dispose();
    active.state = next;
    if (!changeT) continue;
    const change = Array.from(yield* readOnce(changeT));
    lastResidual = Math.max(...change.filter((_, i) => due[i]));
    const settles = change.map((c, i) => due[i] && schedule[active.rows[i]].settled(steps, c));
    const done = [...change.keys()].filter((i) => settles[i]);
    for (const i of done) settledResidual = Math.max(settledResidual, change[i]);
    if (done.length === change.length) {
      converged = true;
      break;
    }
    if (done.length === 0) continue;
    // set the settled rows aside; the rest go on with a bound network of their own rows
    const keep = [...change.keys()].filter((i) => !settles[i]);
    settled.push({ rows: done.map((i) => active.rows[i]), state: gatherRows(active.state, done) });
    const rest: ActiveSet = {
      rows: keep.map((i) => active.rows[i]),
      state: gatherRows(active.state, keep),
      bound: active.bound.subset(keep),
      nudge: active.nudge && { beta: active.nudge.beta, y: gatherRows([active.nudge.y], keep)[0] },
      clamp: active.clamp && { layer: active.clamp.layer, value: gatherRows([active.clamp.value], keep)[0] },
    };
    for (const s of active.state) s.dispose();
    releaseActive(active, bound, opts);
    active = rest;
  }
  settled.push({ rows: active.rows, state: active.state });
  releaseActive(active, bound, opts);
  const residual = converged ? settledResidual : lastResidual;
  return { state: inBatchOrder(settled, n), steps, residual, converged, meanSteps: exampleSteps / Math.max(n, 1) };
}

/**
 * When one example's residual is read next. Fixed: every `every` steps. Predicted: the largest
 * change of a converging iteration shrinks about geometrically, so from its last two readings the
 * step where it will cross `tol` is estimated and read then (at most `every` steps on): an example
 * stops within a step or two of its crossing instead of up to `every` − 1 steps after it.
 */
export class StopPredictor {
  private next: number;
  private prev?: { step: number; change: number };

  constructor(
    private readonly tol: number,
    private readonly every: number,
    private readonly predict: boolean,
  ) {
    // predicting needs two readings: take them early (a nudged phase may settle within 5 steps)
    this.next = predict ? Math.min(2, every) : every;
  }

  /** Whether the example's residual is to be read after `step` steps. */
  due(step: number): boolean {
    return step >= this.next;
  }

  /** Records a reading at `step`; true when the example has settled. */
  settled(step: number, change: number): boolean {
    if (change <= this.tol) return true;
    let wait = this.predict && !this.prev ? 1 : this.every;
    const prev = this.prev;
    if (this.predict && prev && change < prev.change && change > 0) {
      const rate = Math.log(change / prev.change) / (step - prev.step); // log of the per-step ratio, < 0
      wait = Math.min(this.every, Math.max(1, Math.ceil(Math.log(this.tol / change) / rate)));
    }
    this.prev = { step, change };
    this.next = step + wait;
    return false;
  }
}

/** Disposes the bound network, nudge and clamp an active set made for its rows (not the caller's). */
function releaseActive(a: ActiveSet, bound: BoundNetwork, opts: RelaxOptions): void {
  if (a.bound !== bound) a.bound.dispose();
  if (a.nudge && a.nudge !== opts.nudge) a.nudge.y.dispose();
  if (a.clamp && a.clamp !== opts.clamp) a.clamp.value.dispose();
}

/** `state` with the clamped layer replaced by (a handle on) its held value; the replaced tensor is disposed. */
function holdClamped(state: State, clamp: Clamp | undefined): State {
  if (!clamp) return state;
  state[clamp.layer - 1].dispose();
  state[clamp.layer - 1] = clamp.value.clone();
  return state;
}

function checkClamp(clamp: Clamp, init: State): void {
  const L = init.length;
  if (!(Number.isInteger(clamp.layer) && clamp.layer >= 1 && clamp.layer <= L)) {
    throw new ConfigError(`clamp.layer must be a free layer, 1 … ${L}, got ${clamp.layer}`);
  }
  const want = init[clamp.layer - 1].shape;
  if (clamp.value.shape.join() !== want.join()) {
    throw new ConfigError(`clamp.value of layer ${clamp.layer} must have shape [${want}], got [${clamp.value.shape}]`);
  }
}

function gatherRows(tensors: readonly tf.Tensor[], rows: number[]): tf.Tensor[] {
  return tensors.map((t) => takeRows(t, rows));
}

/** Reassembles groups of rows into one state in the original order (one gather per layer). */
function inBatchOrder(parts: { rows: number[]; state: State }[], n: number): State {
  if (parts.length === 1) return parts[0].state;
  const order = parts.flatMap((p) => p.rows);
  const where = new Array<number>(n);
  order.forEach((row, i) => (where[row] = i));
  const layers = parts[0].state.length;
  const out = Array.from({ length: layers }, (_, l) => {
    const all = tf.concat(
      parts.map((p) => p.state[l]),
      0,
    );
    const ordered = takeRows(all, where);
    all.dispose();
    return ordered;
  });
  for (const p of parts) for (const s of p.state) s.dispose();
  return out;
}

/** Largest absolute change of each example over all layers: a [batch] tensor, read once. */
function changePerExample(a: State, b: State): tf.Tensor {
  return tf.tidy(() => {
    const n = a[0].shape[0];
    const perLayer = a.map((s, i) => tf.max(tf.abs(tf.sub(b[i], s)).reshape([n, -1]), 1));
    return tf.max(tf.stack(perLayer), 0);
  });
}

/** Largest absolute change over the batch and all layers: a scalar tensor. */
function maxChange(a: State, b: State): tf.Tensor {
  return tf.tidy(() => {
    const parts = a.map((s, i) => tf.max(tf.abs(tf.sub(b[i], s))));
    return tf.max(tf.stack(parts));
  });
}

function* meanEnergy(bound: BoundNetwork, state: State, nudge?: Nudge): Reads<number> {
  return (yield* readOnce(tf.tidy(() => tf.mean(bound.totalEnergy(state, nudge)))))[0];
}
