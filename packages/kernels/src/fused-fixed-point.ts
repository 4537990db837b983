import { ConfigError, type Reads, readValues, runSync, type State, tf } from '@eqprop/core';
import type { BoundNetwork } from '@eqprop/energies';
import { type FixedPoint, type Relaxation, type RelaxOptions, type Solver, StopPredictor, validateRelaxOptions } from '@eqprop/solvers';
import { type DensePlan, densePlan, unfusedReason } from './dense-plan.js';
import { WasmKernels } from './wasm-kernels.js';

/** `fused`: the fused path or a ConfigError saying why not; `auto`: fused where it applies, tfjs ops elsewhere. */
export type FusedMode = 'fused' | 'auto';

/**
 * The fixed-point solver with each relaxation phase of a dense-coupling network run as one loop in
 * the SIMD kernels (WasmKernels): the batch's static fields and weights are read once, every step
 * is a few kernel calls on host memory, residuals are read with no backend sync, and only the final
 * state goes back to tfjs. It gives the states of `fallback` (the same dynamics, float32, another
 * summation order) and hands everything it does not cover to it: other networks (auto mode),
 * energy traces, GPU backends.
 */
export class FusedFixedPoint implements Solver {
  readonly name: string;

  constructor(
    readonly fallback: FixedPoint,
    readonly mode: FusedMode = 'auto',
  ) {
    this.name = `fused-${fallback.name}`;
  }

  /** Why this solver hands `bound` to tfjs ops, or undefined when it relaxes it itself. */
  unfusedReason(bound: BoundNetwork, opts?: RelaxOptions): string | undefined {
    if (opts?.trace) return 'an energy trace is computed by tfjs ops';
    return unfusedReason(bound);
  }

  relax(bound: BoundNetwork, init: State, opts: RelaxOptions): Relaxation {
    return runSync(this.relaxReads(bound, init, opts));
  }

  *relaxReads(bound: BoundNetwork, init: State, opts: RelaxOptions): Reads<Relaxation> {
    const why = this.unfusedReason(bound, opts);
    if (why !== undefined) {
      if (this.mode === 'fused') throw new ConfigError(`the fused kernels cannot relax this network: ${why} (kernels "auto" falls back to tfjs ops)`);
      return yield* this.fallback.relaxReads(bound, init, opts);
    }
    validateRelaxOptions(opts);
    const starts: Float32Array[] = [];
    for (const s of init) starts.push((yield* readValues(s)) as Float32Array);
    const y = opts.nudge && opts.nudge.beta !== 0 ? ((yield* readValues(opts.nudge.y)) as Float32Array) : undefined;
    return runPhase(densePlan(bound), this.fallback, starts, opts, y);
  }
}

/** A layer's arrays in kernel memory (byte offsets): state, next state, activation argument, static field. */
interface Slots {
  s: number;
  next: number;
  z: number;
  statics: number;
}

/**
 * One relaxation phase in kernel memory. Rows still relaxing are kept first: a per-example stop
 * swaps a settled row behind them (rows are independent in a dense network), so later steps
 * cost what still moves.
 */
function runPhase(plan: DensePlan, solver: FixedPoint, starts: Float32Array[], opts: RelaxOptions, y?: Float32Array): Relaxation {
  const K = WasmKernels.get();
  const n = plan.batch;
  const L = plan.layers.length;
  const mark = K.mark();
  try {
    const slots: Slots[] = plan.layers.map((l, i) => ({ s: K.put(starts[i]), next: K.alloc(n * l.width), z: K.alloc(n * l.width), statics: K.put(l.statics) }));
    const weights = plan.layers.map((l) => l.products.map((p) => K.put(p.b)));
    const yPtr = y ? K.put(y) : 0;
    const beta = opts.nudge?.beta ?? 0;
    const inside = solver.nudgeAt === 'inside';
    const eps = solver.stepSize;
    const rowsOf = Array.from({ length: n }, (_, i) => i);
    const perExample = opts.perExample === true;
    const checkEvery = opts.checkEvery ?? 5;
    const schedule = perExample ? rowsOf.map(() => new StopPredictor(opts.tol!, checkEvery, opts.predictStops ?? true)) : [];
    let active = n;
    let steps = 0;
    let exampleSteps = 0;
    let residual = Number.NaN;
    let settledResidual = 0;
    let converged = false;
    // cur[k]: where layer k's activity is read from within a step (alternating: fresh odd layers)
    const cur = slots.map((s) => s.s);

    /** Layer k's next state into its `next` slot, from the activities at `cur`. */
    const update = (k: number) => {
      const l = plan.layers[k - 1];
      const sl = slots[k - 1];
      const len = active * l.width;
      let init = sl.statics;
      l.products.forEach((p, j) => {
        const a = cur[p.from - 1];
        if (p.form === 'nn') K.fn.mm_nn(a, weights[k - 1][j], init, sl.z, active, l.width, p.inner);
        else K.fn.mm_nt(a, weights[k - 1][j], init, sl.z, active, l.width, p.inner);
        init = sl.z;
      });
      if (init !== sl.z) K.view(sl.z, len).set(K.view(sl.statics, len));
      const nudged = k === L && beta !== 0;
      // the nudge −β ∂C/∂s = β·2w(y − s): inside σ (scaled by its gain), or added after it
      const force = 2 * plan.costWeight;
      if (nudged && inside) nudge(K.view(sl.z, len), K.view(yPtr, len), K.view(cur[k - 1], len), force, beta * l.gain);
      K.fn.activate(sl.z, padded(len), l.base);
      if (nudged && !inside) nudge(K.view(sl.z, len), K.view(yPtr, len), K.view(cur[k - 1], len), force, beta);
      // (the kernels write whole 4-lane groups: only z, scratch, may take the padding past `len`)
      if (eps !== 1) K.fn.lerp(sl.z, cur[k - 1], sl.z, padded(len), eps);
      K.view(sl.next, len).set(K.view(sl.z, len));
    };

    while (steps < opts.maxSteps) {
      if (solver.schedule === 'synchronous') {
        for (let k = 1; k <= L; k++) update(k);
      } else {
        for (const parity of [1, 0]) {
          // a parity's layers do not couple: each reads the others' activities, then all move
          const layers = Array.from({ length: L }, (_, i) => i + 1).filter((k) => k % 2 === parity);
          for (const k of layers) update(k);
          for (const k of layers) cur[k - 1] = slots[k - 1].next;
        }
      }
      steps++;
      exampleSteps += active;
      const last = steps === opts.maxSteps;
      const due = perExample ? rowsOf.slice(0, active).map((row) => last || schedule[row].due(steps)) : undefined;
      const batchDue = last || (opts.tol !== undefined && steps % checkEvery === 0);
      const change = (due ? due.some(Boolean) : batchDue) ? rowChanges(K, plan, slots, active) : undefined;
      // the new state becomes the current one
      for (const sl of slots) [sl.s, sl.next] = [sl.next, sl.s];
      slots.forEach((sl, i) => (cur[i] = sl.s));
      if (!change) continue;
      if (!due) {
        residual = Math.max(...change);
        converged = opts.tol !== undefined && residual <= opts.tol;
        if (converged) break;
        continue;
      }
      residual = Math.max(...change.filter((_, i) => due[i]));
      // settled rows go behind the active ones, from the back so swaps do not move a row still to be checked
      for (let i = active - 1; i >= 0; i--) {
        if (!due[i] || !schedule[rowsOf[i]].settled(steps, change[i])) continue;
        settledResidual = Math.max(settledResidual, change[i]);
        active--;
        swapRows(K, plan, slots, yPtr, rowsOf, i, active);
      }
      if (active === 0) {
        converged = true;
        residual = settledResidual;
        break;
      }
    }
    return { state: inBatchOrder(K, plan, slots, rowsOf), steps, residual, converged, meanSteps: exampleSteps / Math.max(n, 1) };
  } finally {
    K.release(mark);
  }
}

/** The kernels work 4 lanes at a time: a length rounded up (allocations are padded so). */
function padded(len: number): number {
  return Math.ceil(len / 4) * 4;
}

/** z += scale·force·(y − s) over the active rows (float32 at each step, as tfjs rounds it). */
function nudge(z: Float32Array, y: Float32Array, s: Float32Array, force: number, scale: number): void {
  for (let i = 0; i < z.length; i++) z[i] += Math.fround(Math.fround((y[i] - s[i]) * force) * scale);
}

/** Each active row's largest |next − s| over all layers. */
function rowChanges(K: WasmKernels, plan: DensePlan, slots: Slots[], active: number): number[] {
  const change = new Array<number>(active).fill(0);
  plan.layers.forEach((l, i) => {
    const a = K.view(slots[i].s, active * l.width);
    const b = K.view(slots[i].next, active * l.width);
    for (let r = 0; r < active; r++) {
      let m = change[r];
      for (let j = r * l.width, end = j + l.width; j < end; j++) {
        const d = Math.abs(b[j] - a[j]);
        if (d > m) m = d;
      }
      change[r] = m;
    }
  });
  return change;
}

/** Swaps rows i and j of every per-example array (state, static fields, target) and of rowsOf; row j is the settled one. */
function swapRows(K: WasmKernels, plan: DensePlan, slots: Slots[], yPtr: number, rowsOf: number[], i: number, j: number): void {
  [rowsOf[i], rowsOf[j]] = [rowsOf[j], rowsOf[i]];
  const swap = (ptr: number, width: number) => {
    if (i === j) return;
    const v = K.view(ptr, plan.batch * width);
    const t = v.slice(i * width, (i + 1) * width);
    v.copyWithin(i * width, j * width, (j + 1) * width);
    v.set(t, j * width);
  };
  plan.layers.forEach((l, k) => {
    swap(slots[k].s, l.width);
    swap(slots[k].statics, l.width);
    // a settled row (now j) stays put in both buffers, which trade places every step
    K.view(slots[k].next, plan.batch * l.width).set(K.view(slots[k].s, plan.batch * l.width).subarray(j * l.width, (j + 1) * l.width), j * l.width);
  });
  if (yPtr) swap(yPtr, plan.layers[plan.layers.length - 1].width);
}

/** The final state as tensors, rows back in the batch's order. */
function inBatchOrder(K: WasmKernels, plan: DensePlan, slots: Slots[], rowsOf: number[]): State {
  return plan.layers.map((l, k) => {
    const v = K.view(slots[k].s, plan.batch * l.width);
    const out = new Float32Array(plan.batch * l.width);
    rowsOf.forEach((row, i) => out.set(v.subarray(i * l.width, (i + 1) * l.width), row * l.width));
    return tf.tensor2d(out, [plan.batch, l.width]);
  });
}
