import type { Reads } from '@eqprop/core';
import type { Relaxation } from '@eqprop/solvers';
import { BaseEstimator, costParamGrads, type Estimate, type EstimateRequest, type EstimatorDraw, nudgeReads } from './estimator.js';

/** (∂E/∂θ(s^β) − ∂E/∂θ(s^0)) / β: one nudged phase, bias O(β) (Scellier & Bengio 2017). */
export class OneSidedEstimator extends BaseEstimator {
  constructor(beta: number, name = 'one-sided') {
    super(name, beta);
  }

  *estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const beta = this.betaOf(draw);
    const nudged = [yield* nudgeReads(req, free, beta)];
    const grads = req.bound.paramGradsDiff(nudged[0].state, free.state, 1 / beta);
    Object.assign(grads, costParamGrads(req.bound, free.state, req.y));
    return { grads, free, nudged, beta };
  }
}
