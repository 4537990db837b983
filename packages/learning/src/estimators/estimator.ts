import { ConfigError, type Grads, type Reads, runSync, type State, tf } from '@eqprop/core';
import type { BoundNetwork, EnergyNetwork } from '@eqprop/energies';
import type { Relaxation, RelaxOptions, Solver } from '@eqprop/solvers';

/** What an estimator needs for one batch (or one data-parallel share of it). */
export interface EstimateRequest {
  /** The network bound to the batch's input (the caller binds and disposes it). */
  bound: BoundNetwork;
  /** Targets, one-hot [batch, classes] (the caller's). */
  y: tf.Tensor;
  /** Relaxes every phase (the estimator may refuse a solver it cannot use). */
  solver: Solver;
  /** Start of the free phase (zeros or persistent particles; the caller's, never disposed here). */
  init: State;
  /** Options of the free phase (steps, tolerance). */
  free: Omit<RelaxOptions, 'nudge'>;
  /** Options of every nudged phase; the estimator adds the nudge. */
  nudged: Omit<RelaxOptions, 'nudge'>;
}

/**
 * An estimate. The caller owns and disposes all of it: the gradients, the free relaxation's state
 * (unless it passed the free relaxation in: estimateFrom) and every nudged relaxation's state.
 */
export interface Estimate {
  /** Estimate of ∂L/∂θ for every parameter (energy and cost parameters). */
  grads: Grads;
  free: Relaxation;
  /**
   * Every nudged relaxation the estimator ran, for disposal and inspection, in the order it ran
   * them. A complex phase (holomorphic) holds its real parts, then its imaginary parts.
   */
  nudged: Relaxation[];
  /** The β of the draw (signed for random-sign). */
  beta: number;
  /** Set when the estimator fell back to a simpler estimate, and why (holomorphic: a complex phase that did not converge). */
  fallback?: string;
}

/**
 * The per-batch random choice of an estimator (random-sign: the signed β). Plain data that
 * survives structured cloning and JSON, so that data-parallel workers apply the leader's draw.
 */
export type EstimatorDraw = number | string | boolean | null | readonly EstimatorDraw[] | { readonly [key: string]: EstimatorDraw };

/**
 * A gradient estimator: the nudged phase(s) after a free phase, turned into ∂L/∂θ. Every method
 * takes the batch's draw; left out, a fresh one is drawn (`draw()`).
 */
export interface Estimator {
  /** The registry name it was created under (`holomorphic-4`, `symmetric`, …). */
  readonly name: string;
  /** The nudging strength |β|. */
  readonly beta: number;
  /** The draw of the next batch (advances the estimator's Rng where it has one). */
  draw(): EstimatorDraw;
  /** Throws a ConfigError (one line) when it cannot estimate on this network with this solver. Trainers call it once. */
  check?(net: EnergyNetwork, solver: Solver): void;
  /** Free phase, then the nudged phase(s) from the free state (synchronous reads). */
  estimate(req: EstimateRequest, draw?: EstimatorDraw): Estimate;
  /** `estimate` as a Reads program (run it with runAsync where reads are asynchronous). */
  estimateReads(req: EstimateRequest, draw?: EstimatorDraw): Reads<Estimate>;
  /** The nudged phase(s) and the estimate given a free relaxation, which stays the caller's. */
  estimateFrom(req: EstimateRequest, free: Relaxation, draw?: EstimatorDraw): Estimate;
  /** `estimateFrom` as a Reads program: what an estimator implements. */
  estimateFromReads(req: EstimateRequest, free: Relaxation, draw?: EstimatorDraw): Reads<Estimate>;
}

/** The estimator wrappers written once: a subclass gives `draw` and `nudgedReads`. */
export abstract class BaseEstimator implements Estimator {
  constructor(
    readonly name: string,
    readonly beta: number,
  ) {
    checkBeta(beta);
  }

  /** Every built-in estimator draws its signed β; the base one is +β. */
  draw(): EstimatorDraw {
    return this.beta;
  }

  estimate(req: EstimateRequest, draw: EstimatorDraw = this.draw()): Estimate {
    return runSync(this.estimateReads(req, draw));
  }

  *estimateReads(req: EstimateRequest, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const free = yield* req.solver.relaxReads(req.bound, req.init, req.free);
    try {
      return yield* this.estimateFromReads(req, free, draw);
    } catch (e) {
      disposeRelaxation(free);
      throw e;
    }
  }

  estimateFrom(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Estimate {
    return runSync(this.estimateFromReads(req, free, draw));
  }

  abstract estimateFromReads(req: EstimateRequest, free: Relaxation, draw?: EstimatorDraw): Reads<Estimate>;

  /** The signed β of a draw (a number for every built-in estimator). */
  protected betaOf(draw: EstimatorDraw): number {
    if (typeof draw !== 'number' || !Number.isFinite(draw) || draw === 0)
      throw new ConfigError(`${this.name}: the draw must be a signed β (a non-zero number), got ${JSON.stringify(draw)}`);
    return draw;
  }
}

/** A nudged relaxation from the free state with signed β. */
export function nudgeReads(req: EstimateRequest, free: Relaxation, beta: number): Reads<Relaxation> {
  return req.solver.relaxReads(req.bound, free.state, { ...req.nudged, nudge: { beta, y: req.y } });
}

export function checkBeta(beta: number): void {
  if (!(beta > 0) || !Number.isFinite(beta)) throw new ConfigError(`β must be a positive number, got ${beta}`);
}

/** ∂C/∂θ of the cost's own parameters at a state (empty for MSE). */
export function costParamGrads(bound: BoundNetwork, state: State, y: tf.Tensor): Grads {
  const net = bound.net;
  if (Object.keys(net.cost.params).length === 0) return {};
  return tf.tidy(() => net.cost.paramGrads(bound.outputActivity(state), y));
}

export function disposeRelaxation(r: Relaxation): void {
  for (const s of r.state) s.dispose();
}
