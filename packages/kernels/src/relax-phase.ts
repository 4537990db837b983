import { StopPredictor } from '@eqprop/solvers';
import type { KernelTeam } from './kernel-team.js';
import { Program } from './program.js';

/** A free layer's arrays in kernel memory (byte offsets; [batch × width] unless said). */
export interface LayerArrays {
  width: number;
  /** Activation code (LOGISTIC, CLIP01). */
  base: number;
  /** The activation's gain (the nudge inside σ is scaled by it). */
  gain: number;
  /** The state; `next`, the state being computed (the two swap every step); `z`, scratch. */
  s: number;
  next: number;
  z: number;
  /** gain·(static field − centre): one row per example (`staticsLd` = width) or one for all (0). */
  statics: number;
  staticsLd: number;
  /** The products that make the moving part of the field. */
  products: ArrayProduct[];
}

/** field += a·b (`nn`, b [inner × width]) or a·bᵀ (`nt`, b [width × inner]), a the state of layer `from` (0-based). */
export interface ArrayProduct {
  from: number;
  form: 'nn' | 'nt';
  b: number;
  inner: number;
}

/** One batch's arrays for a relaxation phase. */
export interface PhaseArrays {
  batch: number;
  layers: LayerArrays[];
  /** The target, [batch × output width] (0: none). */
  y: number;
  /** Scratch: one residual per row. */
  change: number;
  /** The MSE cost's weight w (the nudge is β·2w(y − s)). */
  costWeight: number;
}

/** The dynamics and the stopping rule of a phase (FixedPoint's and RelaxOptions'). */
export interface PhaseSettings {
  schedule: 'synchronous' | 'alternating';
  /** ε: damping (1: none). */
  eps: number;
  /** Where the nudge enters: inside σ or added after it. */
  inside: boolean;
  /**
   * Gradient descent (GradientDescent with ρ′ = 1 on the range): next = clip((1 − ε)·s + ε·(field +
   * nudge)), the clip after the interpolation (a synchronous schedule, the nudge in the field, gain 1).
   */
  descent?: boolean;
  /** β (0: free phase). */
  beta: number;
  maxSteps: number;
  tol?: number;
  perExample?: boolean;
  checkEvery?: number;
  predictStops?: boolean;
}

export interface PhaseResult {
  steps: number;
  residual: number;
  converged: boolean;
  meanSteps: number;
}

/**
 * Relaxes `arrays` in place: the final state is in each layer's `s`, rows in the batch's order.
 *
 * Rows of a dense network relax independently, so each thread of the team takes a contiguous share
 * of them, and one run (one Program per thread, no synchronisation inside) holds every step up to
 * the next residual check: all of the phase without a tolerance; `checkEvery` steps with a batch
 * tolerance, after which the whole batch's largest change decides, as in FixedPoint; with a
 * per-example tolerance, up to the first step any row is due to be read (StopPredictor), after
 * which settled rows leave their thread's active rows (swapped behind them, so later steps cost
 * what still moves). Each row thus takes exactly the steps it takes on one thread, with the same
 * kernels on the same values: the result does not depend on the thread count. `prefix` adds each
 * thread's own work on its rows before the first step (the static fields of a batch), in the same run.
 */
export function runPhase(
  team: KernelTeam,
  A: PhaseArrays,
  o: PhaseSettings,
  prefix?: (p: Program, lo: number, rows: number, thread: number) => void,
): PhaseResult {
  const K = team.K;
  const n = A.batch;
  const shares = team.split(n);
  const active = shares.map(([lo, hi]) => hi - lo);
  const rowsOf = Array.from({ length: n }, (_, i) => i);
  const perExample = o.perExample === true;
  const checkEvery = o.checkEvery ?? 5;
  const schedule = perExample ? rowsOf.map(() => new StopPredictor(o.tol!, checkEvery, o.predictStops ?? true)) : [];
  let steps = 0;
  let exampleSteps = 0;
  let residual = Number.NaN;
  let settledResidual = 0;
  let converged = false;
  let permuted = false;
  let programs = shares.map(([lo, hi], t) => {
    const p = new Program();
    prefix?.(p, lo, hi - lo, t);
    return p;
  });
  if (o.maxSteps === 0) team.run(programs);
  while (steps < o.maxSteps) {
    const end = nextCheck(steps, o, checkEvery, perExample ? shares.flatMap(([lo], t) => rowsOf.slice(lo, lo + active[t])).map((r) => schedule[r]) : []);
    for (let step = steps + 1; step <= end; step++) {
      shares.forEach(([lo], t) => emitStep(programs[t], A, o, lo, active[t], step === end));
      for (const l of A.layers) [l.s, l.next] = [l.next, l.s];
      exampleSteps += active.reduce((a, b) => a + b, 0);
    }
    team.run(programs);
    programs = shares.map(() => new Program());
    steps = end;
    const last = steps === o.maxSteps;
    const change = K.view(A.change, n);
    if (!perExample) {
      if (!last && steps % checkEvery !== 0) continue;
      residual = 0;
      for (let i = 0; i < n; i++) residual = Number.isNaN(change[i]) || change[i] > residual ? change[i] : residual;
      converged = o.tol !== undefined && residual <= o.tol;
      if (converged) break;
      continue;
    }
    // due rows are decided before any is settled (settling moves a row's next reading)
    const due = new Array<boolean>(n).fill(false);
    residual = Number.NEGATIVE_INFINITY;
    shares.forEach(([lo], t) => {
      for (let i = lo; i < lo + active[t]; i++) {
        due[i] = last || schedule[rowsOf[i]].due(steps);
        if (due[i]) residual = Math.max(residual, change[i]);
      }
    });
    // settled rows go behind their thread's active ones, from the back so a swap moves only checked rows
    shares.forEach(([lo], t) => {
      for (let i = lo + active[t] - 1; i >= lo; i--) {
        if (!due[i] || !schedule[rowsOf[i]].settled(steps, change[i])) continue;
        settledResidual = Math.max(settledResidual, change[i]);
        active[t]--;
        swapRows(team, A, rowsOf, i, lo + active[t]);
        permuted = true;
      }
    });
    if (active.every((a) => a === 0)) {
      converged = true;
      residual = settledResidual;
      break;
    }
  }
  if (permuted) unpermute(team, A, rowsOf);
  return { steps, residual, converged, meanSteps: exampleSteps / Math.max(n, 1) };
}

/** The step after `steps` at which the residual is next read (or the last step). */
function nextCheck(steps: number, o: PhaseSettings, checkEvery: number, activeSchedules: StopPredictor[]): number {
  if (o.tol === undefined) return o.maxSteps;
  if (!o.perExample) return Math.min(o.maxSteps, (Math.floor(steps / checkEvery) + 1) * checkEvery);
  let s = steps + 1;
  while (s < o.maxSteps && !activeSchedules.some((p) => p.due(s))) s++;
  return s;
}

/**
 * One step of rows [lo, lo + rows) into each layer's `next` (FixedPoint's step: the field from the
 * static part and the products, the nudge inside or after σ, damping; or GradientDescent's, `descent`); with `check`, each row's
 * largest change into `change`.
 */
function emitStep(p: Program, A: PhaseArrays, o: PhaseSettings, lo: number, rows: number, check: boolean): void {
  const L = A.layers.length;
  // where each layer's activity is read within the step (alternating: odd layers' new states)
  const cur = A.layers.map((l) => l.s);
  const update = (i: number) => {
    const l = A.layers[i];
    const w = l.width;
    const off = 4 * lo * w;
    const len = rows * w;
    const z = l.z + off;
    const next = l.next + off;
    let init = l.statics + 4 * lo * l.staticsLd;
    let ldi = l.staticsLd;
    if (l.products.length === 0) p.gemmNN(0, 0, 0, 0, init, ldi, z, w, rows, w, 0); // z = the static part
    for (const pr of l.products) {
      const from = A.layers[pr.from];
      const a = cur[pr.from] + 4 * lo * from.width;
      if (pr.form === 'nn') p.gemmNN(a, from.width, pr.b, w, init, ldi, z, w, rows, w, pr.inner);
      else p.gemmNT(a, from.width, pr.b, pr.inner, init, ldi, z, w, rows, w, pr.inner);
      init = z;
      ldi = w;
    }
    const nudged = i === L - 1 && o.beta !== 0;
    const force = 2 * A.costWeight;
    const s = cur[i] + off;
    const y = A.y + off;
    if (o.descent) {
      // GradientDescent: next = clip(s·(1 − ε) + (field + β·2w(y − s))·ε)
      if (nudged) p.nudge(z, z, y, s, len, force, o.beta);
      p.lerp(next, s, z, len, o.eps);
      p.activate(next, next, len, l.base);
      return;
    }
    if (nudged && o.inside) p.nudge(z, z, y, s, len, force, o.beta * l.gain);
    const direct = o.eps === 1 && !(nudged && !o.inside);
    p.activate(z, direct ? next : z, len, l.base);
    if (nudged && !o.inside) p.nudge(o.eps === 1 ? next : z, z, y, s, len, force, o.beta);
    if (o.eps !== 1) p.lerp(next, s, z, len, o.eps);
  };
  if (o.schedule === 'synchronous') {
    for (let i = 0; i < L; i++) update(i);
  } else {
    // a parity's layers do not couple: each reads the others' activities, then all move
    for (const parity of [0, 1]) {
      const layers = A.layers.map((_, i) => i).filter((i) => i % 2 === parity);
      for (const i of layers) update(i);
      for (const i of layers) cur[i] = A.layers[i].next;
    }
  }
  if (check) A.layers.forEach((l, i) => p.rowChange(l.s + 4 * lo * l.width, l.next + 4 * lo * l.width, A.change + 4 * lo, rows, l.width, i > 0));
}

/** The per-example arrays a row has (state, its own static field, target): [offset, width] pairs. */
function rowArrays(A: PhaseArrays): [number, number][] {
  const out: [number, number][] = [];
  for (const l of A.layers) {
    out.push([l.s, l.width]);
    if (l.staticsLd) out.push([l.statics, l.width]);
  }
  if (A.y) out.push([A.y, A.layers[A.layers.length - 1].width]);
  return out;
}

/** Swaps rows i and j (j: the settled one) of every per-example array and of rowsOf. */
function swapRows(team: KernelTeam, A: PhaseArrays, rowsOf: number[], i: number, j: number): void {
  const K = team.K;
  if (i !== j) {
    [rowsOf[i], rowsOf[j]] = [rowsOf[j], rowsOf[i]];
    for (const [ptr, w] of rowArrays(A)) {
      const v = K.view(ptr, A.batch * w);
      const t = v.slice(i * w, (i + 1) * w);
      v.copyWithin(i * w, j * w, (j + 1) * w);
      v.set(t, j * w);
    }
  }
  // a settled row stays put in both state buffers, which trade places every step
  for (const l of A.layers) K.view(l.next + 4 * j * l.width, l.width).set(K.view(l.s + 4 * j * l.width, l.width));
}

/** Puts every per-example array's rows back in the batch's order. */
function unpermute(team: KernelTeam, A: PhaseArrays, rowsOf: number[]): void {
  for (const [ptr, w] of rowArrays(A)) {
    const v = team.K.view(ptr, A.batch * w);
    const copy = v.slice();
    rowsOf.forEach((row, i) => v.set(copy.subarray(i * w, (i + 1) * w), row * w));
  }
}
