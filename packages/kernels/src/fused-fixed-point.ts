import { ConfigError, type Reads, readValues, runSync, type State, tf } from '@eqprop/core';
import type { BoundNetwork, EnergyNetwork } from '@eqprop/energies';
import { type FixedPoint, type Relaxation, type RelaxOptions, type Solver, validateRelaxOptions } from '@eqprop/solvers';
import { type DensePlan, densePlan, unfusedReason } from './dense-plan.js';
import { KernelTeam } from './kernel-team.js';
import { type PhaseArrays, type PhaseSettings, runPhase } from './relax-phase.js';
import { Arena } from './wasm-kernels.js';

/** `fused`: the fused path or a ConfigError saying why not; `auto`: fused where it applies, tfjs ops elsewhere. */
export type FusedMode = 'fused' | 'auto';

/**
 * A relaxation solver with each phase of a dense-coupling network run as one loop in the SIMD
 * kernels (runPhase), on the threads of a KernelTeam (rows shared out): the batch's static fields
 * and weights are read once, every step is a few kernel calls on the kernels' memory, residuals are
 * read with no backend sync, and only the final state goes back to tfjs. It gives the states of
 * `fallback` (the same dynamics, float32, another summation order) and hands everything it does
 * not cover to it: other networks (auto mode), energy traces, a clamped layer, GPU backends.
 * Subclasses say which dynamics (`settings`) and which networks their solver adds to refuse.
 */
export abstract class FusedSolver<S extends Solver = Solver> implements Solver {
  readonly name: string;

  constructor(
    readonly fallback: S,
    readonly mode: FusedMode = 'auto',
    readonly team: KernelTeam = KernelTeam.single(),
  ) {
    this.name = `fused-${fallback.name}`;
  }

  /** Why the fallback's dynamics have no fused form for `net` (beyond unfusedNetReason), or undefined. */
  solverReason(_net: EnergyNetwork): string | undefined {
    return undefined;
  }

  /** Why this solver hands `bound` to tfjs ops, or undefined when it relaxes it itself. */
  unfusedReason(bound: BoundNetwork, opts?: RelaxOptions): string | undefined {
    if (opts?.trace) return 'an energy trace is computed by tfjs ops';
    if (opts?.clamp) return 'a clamped layer is held by tfjs ops';
    return unfusedReason(bound) ?? this.solverReason(bound.net);
  }

  /** The fallback's dynamics and the stopping rule of `opts`, with the nudge's β. */
  abstract settings(opts: RelaxOptions, beta: number): PhaseSettings;

  /** The stopping rule of `opts`: what every solver's settings take from it. */
  protected stopping(opts: RelaxOptions): Pick<PhaseSettings, 'maxSteps' | 'tol' | 'perExample' | 'checkEvery' | 'predictStops'> {
    const { maxSteps, tol, perExample, checkEvery, predictStops } = opts;
    return { maxSteps, tol, perExample, checkEvery, predictStops };
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
    const beta = opts.nudge?.beta ?? 0;
    const y = beta !== 0 ? ((yield* readValues(opts.nudge!.y)) as Float32Array) : undefined;
    return this.relaxPlan(densePlan(bound), starts, this.settings(opts, beta), y);
  }

  /** One phase of a plan in the team's memory, from host arrays; the state comes back as tensors. */
  private relaxPlan(plan: DensePlan, starts: Float32Array[], settings: PhaseSettings, y?: Float32Array): Relaxation {
    this.team.wake();
    const arena = new Arena(this.team.K);
    try {
      const n = plan.batch;
      const arrays: PhaseArrays = {
        batch: n,
        costWeight: plan.costWeight,
        y: y ? arena.put(y) : 0,
        change: arena.alloc(n),
        layers: plan.layers.map((l, i) => ({
          width: l.width,
          base: l.base,
          gain: l.gain,
          s: arena.put(starts[i]),
          next: arena.alloc(n * l.width),
          z: arena.alloc(n * l.width),
          statics: arena.put(l.statics),
          staticsLd: l.width,
          products: l.products.map((p) => ({ from: p.from - 1, form: p.form, b: arena.put(p.b), inner: p.inner })),
        })),
      };
      const result = runPhase(this.team, arrays, settings);
      const state = arrays.layers.map((l) => tf.tensor2d(this.team.K.view(l.s, n * l.width).slice(), [n, l.width]));
      return { state, ...result };
    } finally {
      arena.release();
    }
  }
}

/** The fixed-point solver of @eqprop/solvers on the fused path (FusedSolver). */
export class FusedFixedPoint extends FusedSolver<FixedPoint> {
  /** The dynamics of the fallback and the stopping rule of `opts`, with the nudge's β. */
  settings(opts: RelaxOptions, beta: number): PhaseSettings {
    const fp = this.fallback;
    return { schedule: fp.schedule, eps: fp.stepSize, inside: fp.nudgeAt === 'inside', beta, ...this.stopping(opts) };
  }
}
