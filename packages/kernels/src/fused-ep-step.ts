import { NumericalError, ShapeError, type tf } from '@eqprop/core';
import type { DenseCoupling, EnergyNetwork, MseCost } from '@eqprop/energies';
import { type RelaxOptions, validateRelaxOptions } from '@eqprop/solvers';
import { formOf, type NetLayer, netLayers, unfusedNetReason } from './dense-plan.js';
import type { FusedSolver } from './fused-fixed-point.js';
import type { FusedOptimizer } from './fused-optimizer.js';
import { readInto } from './host-tensors.js';
import type { KernelTeam } from './kernel-team.js';
import { Program } from './program.js';
import { type PhaseArrays, type PhaseResult, runPhase } from './relax-phase.js';

/** EP's estimate of a batch: one-sided (random-sign: a signed β) or symmetric (±β). */
export interface EpEstimate {
  kind: 'one-sided' | 'symmetric';
  /** The (signed) β of the nudged phase; symmetric: of the first of the two. */
  beta: number;
}

/** A phase's stopping rule (RelaxOptions without nudge, trace or clamp). */
export type EpPhaseOptions = Pick<RelaxOptions, 'maxSteps' | 'tol' | 'perExample' | 'checkEvery' | 'predictStops'>;

export interface EpStepResult {
  /** The free phase's steps, residual, convergence. */
  free: PhaseResult;
  /** The free equilibrium, layer by layer [batch × width] (copies). */
  freeState: Float32Array[];
}

/** One batch's arrays in the team's memory (byte offsets), kept from batch to batch while its size stays. */
interface BatchArrays {
  batch: number;
  x: number;
  y: number;
  change: number;
  /** Per layer: static field, scratch, and two state buffers per phase (free, then each nudged one). */
  statics: number[];
  z: number[];
  states: number[][][];
  /** Per layer, per moving coupling: its product's matrix (gain·W laid out). */
  products: number[][];
  /** Scratch for P0: gain·W before a transpose. */
  scaled: number;
  /** Gradient scratch: xᵀ; per thread and layer, (a − b)·c; per coupling between free layers, the stacked lower activities transposed, per thread the stacked upper ones (and transposed). */
  xT: number;
  diff: number[][];
  lowerT: Map<DenseCoupling, number>;
  upper: Map<DenseCoupling, number[]>;
  upperT: Map<DenseCoupling, number[]>;
  /** Per thread: the nonzero list of a sparse product's row (gemmSparse). */
  lists: number[];
  /** Per thread: 0, or NaN where a checked range holds NaN or Inf. */
  flags: number;
  blocks: number[];
}

/**
 * A whole EP training batch of a dense network in the kernels, on the threads of a KernelTeam:
 * the input projection and static fields, the free phase, the nudged phase(s), the EP weight
 * gradients, into the FusedOptimizer's gradient slots (its `stepSlots` then updates). Nothing of
 * it goes through tfjs ops: the input and target are read once, the parameters are the
 * optimizer's kernel copies, and only the free state comes back.
 *
 * How the threads share it: by rows of the batch for the static fields and the phases (runPhase),
 * by rows of each weight's gradient (whole sums over the batch, each in the batch's order) and
 * columns of each bias's, and by ranges of each parameter for the update. Every element is thus
 * computed by one thread, with the operations and order it has on one thread: the results do not
 * depend on the thread count.
 *
 * The gradients are those of @eqprop/energies (DenseCoupling.paramGradsDiff, Bias.paramGradsDiff):
 * −(scale/n)·(aᵀa′ − bᵀb′) with both phases stacked, −(scale/n)·xᵀ(a′ − b′) for the input's
 * coupling, −(scale/n)·Σ(a − b) for a bias; the activity of a layer is its state (primitive form,
 * or an activation that is the identity on its range).
 */
export class FusedEpStep {
  readonly team: KernelTeam;
  private readonly layers: NetLayer[];
  private arrays?: BatchArrays;

  constructor(
    readonly net: EnergyNetwork,
    readonly solver: FusedSolver,
    readonly optimizer: FusedOptimizer,
  ) {
    const why = FusedEpStep.unfusedReason(net, solver, optimizer);
    if (why) throw new Error(`FusedEpStep: ${why}`);
    this.team = solver.team;
    this.layers = netLayers(net);
  }

  /** Why a batch of `net` is not one FusedEpStep (with this solver and optimizer, where given), or undefined when it is. */
  static unfusedReason(net: EnergyNetwork, solver?: FusedSolver, optimizer?: FusedOptimizer): string | undefined {
    const why = unfusedNetReason(net) ?? solver?.solverReason(net);
    if (why) return why;
    if (net.dropout) return "dropout: each training batch's masks are applied by tfjs ops";
    if (netLayers(net).some((l) => l.biases.length > 1)) return 'a layer with more than one bias';
    if (solver && optimizer && solver.team !== optimizer.team) return 'the solver and the optimizer work on different kernel teams';
    const names = optimizer ? Object.keys(optimizer.slotNames()) : Object.keys(net.params);
    if (Object.keys(net.params).some((p) => !names.includes(p))) return 'a parameter the optimizer does not update';
    return undefined;
  }

  /**
   * The free and nudged phases of a batch and its gradients, left in the optimizer's gradient
   * slots. `x` [batch × inputs], `y` one-hot [batch × outputs]; `init`, the free phase's start
   * (persistent particles; default zeros). Throws a NumericalError naming the first parameter,
   * state or gradient that holds NaN or Inf (the optimizer has not stepped then).
   */
  run(x: tf.Tensor, y: tf.Tensor, estimate: EpEstimate, free: EpPhaseOptions, nudged: EpPhaseOptions, init?: Float32Array[]): EpStepResult {
    const n = x.shape[0];
    const n0 = this.net.inputShape.reduce((u, v) => u * v, 1);
    const nOut = this.layers[this.layers.length - 1].width;
    if (x.size !== n * n0) throw new ShapeError(`FusedEpStep: input of shape [${x.shape}] for a network of ${n0} inputs`);
    if (y.size !== n * nOut) throw new ShapeError(`FusedEpStep: target of shape [${y.shape}] for ${n} examples of ${nOut} outputs`);
    validateRelaxOptions(free);
    validateRelaxOptions(nudged);
    this.team.wake();
    const phases = estimate.kind === 'symmetric' ? 2 : 1;
    const A = this.layout(n, phases);
    const K = this.team.K;
    this.optimizer.syncParams();
    readInto(x, K.view(A.x, x.size));
    readInto(y, K.view(A.y, y.size));
    const sparse = isSparse(K.view(A.x, x.size));
    this.prepareProducts(A);
    // the free phase, from zeros or the given start, the static fields computed first
    this.layers.forEach((l, i) => {
      const s = K.view(A.states[i][0][0], n * l.width);
      if (init) s.set(init[i]);
      else s.fill(0);
    });
    const freeArrays = this.phaseArrays(A, 0, false);
    const freeResult = runPhase(this.team, freeArrays, this.solver.settings(free, 0), (p, lo, rows, t) =>
      this.emitStatics(p, A, lo, rows, sparse ? A.lists[t] : 0),
    );
    const finals: number[][] = [freeArrays.layers.map((l) => l.s)];
    // the nudged phases, each from the free state
    for (let j = 1; j <= phases; j++) {
      const arrays = this.phaseArrays(A, j, true);
      const beta = j === 1 ? estimate.beta : -estimate.beta;
      runPhase(this.team, arrays, this.solver.settings(nudged, beta), (p, lo, rows) =>
        arrays.layers.forEach((l, i) => p.copy(l.s + 4 * lo * l.width, finals[0][i] + 4 * lo * l.width, rows * l.width)),
      );
      finals.push(arrays.layers.map((l) => l.s));
    }
    const [a, b, scale] = phases === 1 ? [finals[1], finals[0], 1 / estimate.beta] : [finals[1], finals[2], 1 / (2 * estimate.beta)];
    this.gradients(A, a, b, -scale / n, finals[0], sparse);
    return { free: freeResult, freeState: this.layers.map((l, i) => K.view(finals[0][i], n * l.width).slice()) };
  }

  /** Phase j's arrays: its two state buffers, the batch's static fields, products and scratch. */
  private phaseArrays(A: BatchArrays, j: number, nudged: boolean): PhaseArrays {
    return {
      batch: A.batch,
      costWeight: (this.net.cost as MseCost).weight,
      y: nudged ? A.y : 0,
      change: A.change,
      layers: this.layers.map((l, i) => ({
        width: l.width,
        base: l.base,
        gain: l.gain,
        s: A.states[i][j][0],
        next: A.states[i][j][1],
        z: A.z[i],
        statics: A.statics[i],
        staticsLd: l.width,
        products: l.moving.map((m, q) => ({ from: m.from - 1, form: m.form, b: A.products[i][q], inner: this.layers[m.from - 1].width })),
      })),
    };
  }

  /** gain·W of every moving coupling, laid out for its product (on this thread: small). */
  private prepareProducts(A: BatchArrays): void {
    const p = new Program();
    this.layers.forEach((l, i) =>
      l.moving.forEach((m, q) => {
        const [nl, nu] = m.term.weight.shape;
        const w = this.optimizer.slot(m.term.name).p;
        // a·(gW) on the upper side (gW [inner × width]), a·(gW)ᵀ on the lower one; the form may ask for the other layout
        if (m.up === (m.form === 'nn')) p.scaledDiff(A.products[i][q], w, 0, nl * nu, l.gain);
        else p.scaledDiff(A.scaled, w, 0, nl * nu, l.gain).transpose(A.scaled, nu, A.products[i][q], nl, nl, nu);
      }),
    );
    this.team.run([p]);
  }

  /** Rows [lo, lo + rows) of every layer's static field: gain·(bias + x·W − centre); x·W over x's nonzeros where `list` is given. */
  private emitStatics(p: Program, A: BatchArrays, lo: number, rows: number, list: number): void {
    const n0 = this.net.inputShape.reduce((u, v) => u * v, 1);
    this.layers.forEach((l, i) => {
      const w = l.width;
      const out = A.statics[i] + 4 * lo * w;
      const bias = l.biases.length ? this.optimizer.slot(l.biases[0].name).p : 0;
      if (l.fromInput.length === 0) p.gemmNN(0, 0, 0, 0, bias, 0, out, w, rows, w, 0);
      l.fromInput.forEach((t, q) => {
        const [x, W] = [A.x + 4 * lo * n0, this.optimizer.slot(t.name).p];
        if (q === 0 && list) p.gemmSparse(x, n0, W, w, bias, out, w, rows, w, n0, list);
        else p.gemmNN(x, n0, W, w, q === 0 ? bias : out, q === 0 ? 0 : w, out, w, rows, w, n0);
      });
      p.affine(out, rows * w, l.centre, l.gain);
    });
  }

  /**
   * The gradients of (E(a) − E(b))·scale/n… into the optimizer's slots, c = −scale/n; then the
   * check that parameters, free state and gradients are finite (`nonfinite`, each thread its range).
   */
  private gradients(A: BatchArrays, a: number[], b: number[], c: number, free: number[], sparse: boolean): void {
    const T = this.team.threads;
    const n = A.batch;
    const n0 = this.net.inputShape.reduce((u, v) => u * v, 1);
    const checks = this.checkList(free);
    const programs = Array.from({ length: T }, (_, t) => {
      const p = new Program();
      const needsDiff = (i: number) => this.layers[i].fromInput.length > 0 || this.layers[i].biases.length > 0;
      this.layers.forEach((l, i) => {
        if (needsDiff(i)) p.scaledDiff(A.diff[t][i], a[i], b[i], n * l.width, c);
      });
      this.layers.forEach((l, i) => {
        for (const term of l.fromInput) {
          const [i0, i1] = this.team.split(n0)[t];
          const g = this.optimizer.slot(term.name).g;
          p.transpose(A.x + 4 * i0, n0, A.xT + 4 * i0 * n, n, n, i1 - i0);
          const [xT, G] = [A.xT + 4 * i0 * n, g + 4 * i0 * l.width];
          if (sparse) p.gemmSparse(xT, n, A.diff[t][i], l.width, 0, G, l.width, i1 - i0, l.width, n, A.lists[t]);
          else p.gemmNN(xT, n, A.diff[t][i], l.width, 0, 0, G, l.width, i1 - i0, l.width, n);
        }
        for (const m of l.moving) {
          if (!m.up) continue; // each coupling once, from its upper layer
          const lower = this.layers[m.from - 1];
          const [i0, i1] = this.team.split(lower.width)[t];
          const g = this.optimizer.slot(m.term.name).g;
          const [wl, wu] = [lower.width, l.width];
          const LT = A.lowerT.get(m.term)!;
          const U = A.upper.get(m.term)![t];
          // stacked as in DenseCoupling.paramGradsDiff: [a_l; b_l]ᵀ·[a_u·c; b_u·(−c)]
          p.scaledDiff(U, a[i], 0, n * wu, c).scaledDiff(U + 4 * n * wu, b[i], 0, n * wu, -c);
          p.transpose(a[m.from - 1] + 4 * i0, wl, LT + 4 * i0 * 2 * n, 2 * n, n, i1 - i0);
          p.transpose(b[m.from - 1] + 4 * i0, wl, LT + 4 * (i0 * 2 * n + n), 2 * n, n, i1 - i0);
          if (formOf(wu, 2 * n) === 'nn') p.gemmNN(LT + 4 * i0 * 2 * n, 2 * n, U, wu, 0, 0, g + 4 * i0 * wu, wu, i1 - i0, wu, 2 * n);
          else {
            const UT = A.upperT.get(m.term)![t];
            p.transpose(U, wu, UT, 2 * n, 2 * n, wu);
            p.gemmNT(LT + 4 * i0 * 2 * n, 2 * n, UT, 2 * n, 0, 0, g + 4 * i0 * wu, wu, i1 - i0, wu, 2 * n);
          }
        }
        for (const bias of l.biases) {
          const [j0, j1] = this.team.split(l.width)[t];
          p.colsum(A.diff[t][i] + 4 * j0, l.width, this.optimizer.slot(bias.name).g + 4 * j0, n, j1 - j0, 1);
        }
      });
      // this thread's range of every checked array
      checks.forEach(([ptr, size], f) => {
        const [lo, hi] = this.team.split(size)[t];
        p.nonfinite(ptr + 4 * lo, hi - lo, A.flags + 4 * (t * checks.length + f));
      });
      return p;
    });
    this.team.run(programs);
    const flags = this.team.K.view(A.flags, T * checks.length);
    checks.forEach(([, , what], f) => {
      for (let t = 0; t < T; t++) if (Number.isNaN(flags[t * checks.length + f])) throw new NumericalError(`non-finite values (NaN or Inf) in ${what}`);
    });
  }

  /**
   * What the finiteness check covers, in the order the tfjs Trainer reports it: [offset, size,
   * what]. The fields come after the states: a clipped or saturating activation keeps a state finite
   * when its field has overflowed (weights blown up by too large a rate), which the tfjs Trainer
   * finds as a non-finite energy; here the field itself is checked, the static part (input
   * projection and biases) and the last step's (`z`: for gradient descent, before the clip).
   */
  private checkList(free: number[]): [number, number, string][] {
    const A = this.arrays!;
    const n = A.batch;
    const names = Object.keys(this.net.params);
    const termsOf = (l: NetLayer) => [...l.fromInput, ...l.moving.map((m) => m.term), ...l.biases].map((t) => t.name).join(', ');
    return [
      ...names.map((k): [number, number, string] => [this.optimizer.slot(k).p, this.optimizer.slot(k).size, `parameter ${k}`]),
      ...this.layers.map((l, i): [number, number, string] => [free[i], n * l.width, `the state of layer ${l.k} at the free equilibrium`]),
      ...this.layers.map((l, i): [number, number, string] => [
        A.statics[i],
        n * l.width,
        `the field on layer ${l.k} from the input and biases (term ${termsOf(l)})`,
      ]),
      ...this.layers.map((l, i): [number, number, string] => [A.z[i], n * l.width, `the field on layer ${l.k} at the last step (term ${termsOf(l)})`]),
      ...names.map((k): [number, number, string] => [this.optimizer.slot(k).g, this.optimizer.slot(k).size, `the gradient of ${k}`]),
    ];
  }

  /** The batch's arrays for `n` examples and `phases` nudged phases (the same ones again while they fit). */
  private layout(n: number, phases: number): BatchArrays {
    const old = this.arrays;
    if (old && old.batch === n && old.states[0].length >= phases + 1) return old;
    if (old) this.freeArrays();
    const K = this.team.K;
    const T = this.team.threads;
    const blocks: number[] = [];
    const alloc = (len: number) => {
      const p = K.alloc(len);
      blocks.push(p);
      return p;
    };
    const n0 = this.net.inputShape.reduce((u, v) => u * v, 1);
    const L = this.layers;
    const nOut = L[L.length - 1].width;
    const couplings = L.flatMap((l) => l.moving.filter((m) => m.up).map((m) => ({ m, wl: L[m.from - 1].width, wu: l.width })));
    const checks = 2 * Object.keys(this.net.params).length + 3 * L.length; // checkList: parameters, states, static fields, fields, gradients
    this.arrays = {
      batch: n,
      x: alloc(n * n0),
      y: alloc(n * nOut),
      change: alloc(n),
      statics: L.map((l) => alloc(n * l.width)),
      z: L.map((l) => alloc(n * l.width)),
      states: L.map((l) => Array.from({ length: phases + 1 }, () => [alloc(n * l.width), alloc(n * l.width)])),
      products: L.map((l) => l.moving.map((m) => alloc(m.term.weight.size))),
      scaled: alloc(Math.max(1, ...L.flatMap((l) => l.moving.map((m) => m.term.weight.size)))),
      xT: L.some((l) => l.fromInput.length) ? alloc(n0 * n) : 0,
      diff: Array.from({ length: T }, () => L.map((l) => (l.fromInput.length || l.biases.length ? alloc(n * l.width) : 0))),
      lowerT: new Map(couplings.map(({ m, wl }) => [m.term, alloc(2 * n * wl)])),
      upper: new Map(couplings.map(({ m, wu }) => [m.term, Array.from({ length: T }, () => alloc(2 * n * wu))])),
      upperT: new Map(couplings.map(({ m, wu }) => [m.term, Array.from({ length: T }, () => (formOf(wu, 2 * n) === 'nt' ? alloc(2 * n * wu) : 0))])),
      lists: Array.from({ length: T }, () => alloc(n0 * (1 + 2 * n) + n)), // gemm_sp's lists of n0 rows of n (or n rows of n0)
      flags: alloc(T * checks),
      blocks,
    };
    return this.arrays;
  }

  private freeArrays(): void {
    for (const p of this.arrays?.blocks ?? []) this.team.K.free(p);
    this.arrays = undefined;
  }

  /** Frees its kernel memory (the solver, optimizer and team are their owners'). */
  dispose(): void {
    this.freeArrays();
  }
}

/**
 * Whether products with the input should skip its zeros (gemmSparse): below 40 % nonzero values
 * (MNIST: ~19 %), where skipping beats gemm_nn's dense tiles (at batch 50 by 784 inputs and 512
 * units, the two break even near 50 %). Either way the result is the same (gemm_sp's contract), so
 * one value in 7 is enough to decide (a whole count cost 0.1 ms a batch).
 */
function isSparse(x: Float32Array): boolean {
  let nonzero = 0;
  let seen = 0;
  for (let i = 0; i < x.length; i += 7, seen++) if (x[i] !== 0) nonzero++;
  return nonzero < 0.4 * seen;
}
