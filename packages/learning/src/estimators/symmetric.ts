import type { Reads } from '@eqprop/core';
import type { Relaxation } from '@eqprop/solvers';
import { BaseEstimator, costParamGrads, type Estimate, type EstimateRequest, type EstimatorDraw, nudgeReads } from './estimator.js';

/** (∂E/∂θ(s^{+β}) − ∂E/∂θ(s^{−β})) / 2β: two nudged phases, bias O(β²) (Laborieux et al. 2021). */
export class SymmetricEstimator extends BaseEstimator {
  constructor(beta: number) {
    super('symmetric', beta);
  }

  *estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const beta = this.betaOf(draw);
    const nudged = [yield* nudgeReads(req, free, beta)];
    nudged.push(yield* nudgeReads(req, free, -beta));
    // anchored at the free state: vector-field terms hold each layer's neighbours there
    const grads = req.bound.paramGradsDiff(nudged[0].state, nudged[1].state, 1 / (2 * beta), free.state);
    Object.assign(grads, costParamGrads(req.bound, free.state, req.y));
    return { grads, free, nudged, beta };
  }
}
