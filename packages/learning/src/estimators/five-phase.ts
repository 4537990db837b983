import { type Reads, tf } from '@eqprop/core';
import type { Relaxation } from '@eqprop/solvers';
import { BaseEstimator, costParamGrads, type Estimate, type EstimateRequest, type EstimatorDraw, nudgeReads } from './estimator.js';

/**
 * (−∂E(2β) + 8∂E(β) − 8∂E(−β) + ∂E(−2β)) / 12β, ∂E = ∂E/∂θ at the nudged equilibrium: the
 * five-point central difference of d/dβ ∂E/∂θ (the free phase is the fifth point, whose weight is
 * 0), bias O(β⁴) (Laborieux's `fivephase` branch). Four nudged phases from the free state.
 */
export class FivePhaseEstimator extends BaseEstimator {
  constructor(beta: number) {
    super('five-phase', beta);
  }

  *estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const beta = this.betaOf(draw);
    const nudged: Relaxation[] = [];
    try {
      for (const b of [beta, -beta, 2 * beta, -2 * beta]) nudged.push(yield* nudgeReads(req, free, b));
    } catch (e) {
      nudged.forEach((r) => tf.dispose(r.state));
      throw e;
    }
    const [p1, m1, p2, m2] = nudged.map((r) => r.state);
    // two differences of equilibria, each small: (8/12β)(∂E(β) − ∂E(−β)) − (1/12β)(∂E(2β) − ∂E(−2β))
    // anchored at the free state: vector-field terms hold each layer's neighbours there
    const near = req.bound.paramGradsDiff(p1, m1, 8 / (12 * beta), free.state);
    const far = req.bound.paramGradsDiff(p2, m2, 1 / (12 * beta), free.state);
    const grads = Object.fromEntries(Object.keys(near).map((k) => [k, tf.sub(near[k], far[k])]));
    tf.dispose([...Object.values(near), ...Object.values(far)]);
    Object.assign(grads, costParamGrads(req.bound, free.state, req.y));
    return { grads, free, nudged, beta };
  }
}
