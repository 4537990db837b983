import { ConfigError, type Grads, type Reads, type Rng, runSync, type State, tf } from '@eqprop/core';
import type { BoundNetwork } from '@eqprop/energies';
import type { Relaxation, RelaxOptions, Solver } from '@eqprop/solvers';

export const ESTIMATORS = ['one-sided', 'symmetric', 'random-sign'] as const;
export type EstimatorKind = (typeof ESTIMATORS)[number];

export interface EstimateRequest {
  bound: BoundNetwork;
  y: tf.Tensor;
  solver: Solver;
  /** Start of the free phase (zeros or persistent particles). */
  init: State;
  free: Omit<RelaxOptions, 'nudge'>;
  nudged: Omit<RelaxOptions, 'nudge'>;
}

export interface Estimate {
  /** Estimate of ∂L/∂θ for every parameter (energy and cost parameters). */
  grads: Grads;
  free: Relaxation;
  nudged: Relaxation[];
  /** The β actually used (signed for random-sign). */
  beta: number;
}

/**
 * Equilibrium Propagation's gradient estimators, all finite differences of ∂E/∂θ between
 * equilibria (DESIGN.md): one-sided (bias O(β)), symmetric ±β (bias O(β²), Laborieux et al.
 * 2021), random-sign (one-sided with a random ±β per batch, Scellier & Bengio 2017).
 * Parameters of the cost (a CE readout) get ∂C/∂θ at the free equilibrium.
 */
export class EpEstimator {
  constructor(
    readonly kind: EstimatorKind,
    readonly beta: number,
    private readonly rng?: Rng,
  ) {
    if (!ESTIMATORS.includes(kind)) throw new ConfigError(`unknown estimator "${kind}": expected one of ${ESTIMATORS.join(', ')}`);
    if (!(beta > 0) || !Number.isFinite(beta)) throw new ConfigError(`β must be a positive number, got ${beta}`);
    if (kind === 'random-sign' && !rng) throw new ConfigError('the random-sign estimator needs an Rng');
  }

  /** The β of the next estimate: signed for random-sign (one draw from the Rng). */
  drawBeta(): number {
    return this.kind === 'random-sign' ? this.beta * this.rng!.sign() : this.beta;
  }

  /** Runs the free phase, then the nudged phase(s) from the free state (synchronous reads). */
  estimate(req: EstimateRequest, beta = this.drawBeta()): Estimate {
    return runSync(this.estimateReads(req, beta));
  }

  /** `estimate` as a Reads program (run it with runAsync where reads are asynchronous). */
  *estimateReads(req: EstimateRequest, beta = this.drawBeta()): Reads<Estimate> {
    const free = yield* req.solver.relaxReads(req.bound, req.init, req.free);
    return yield* this.estimateFromReads(req, free, beta);
  }

  /**
   * Nudged phase(s) and the estimate, given a free relaxation (which stays owned by the caller).
   * `beta` is signed for random-sign; data-parallel workers receive the one the leader drew.
   */
  estimateFrom(req: EstimateRequest, free: Relaxation, beta = this.drawBeta()): Estimate {
    return runSync(this.estimateFromReads(req, free, beta));
  }

  /** `estimateFrom` as a Reads program. */
  *estimateFromReads(req: EstimateRequest, free: Relaxation, beta = this.drawBeta()): Reads<Estimate> {
    const { bound, y, solver } = req;
    const nudge = (b: number) => solver.relaxReads(bound, free.state, { ...req.nudged, nudge: { beta: b, y } });
    let nudged: Relaxation[];
    let grads: Grads;
    if (this.kind === 'symmetric') {
      nudged = [yield* nudge(beta), yield* nudge(-beta)];
      grads = bound.paramGradsDiff(nudged[0].state, nudged[1].state, 1 / (2 * beta));
    } else {
      nudged = [yield* nudge(beta)];
      grads = bound.paramGradsDiff(nudged[0].state, free.state, 1 / beta);
    }
    Object.assign(grads, costParamGrads(bound, free.state, y));
    return { grads, free, nudged, beta };
  }
}

/** ∂C/∂θ of the cost's own parameters at a state (empty for MSE). */
export function costParamGrads(bound: BoundNetwork, state: State, y: tf.Tensor): Grads {
  const net = bound.net;
  if (Object.keys(net.cost.params).length === 0) return {};
  return tf.tidy(() => net.cost.paramGrads(net.activity(net.depth, state[state.length - 1]), y));
}

export function disposeRelaxation(r: Relaxation): void {
  for (const s of r.state) s.dispose();
}
