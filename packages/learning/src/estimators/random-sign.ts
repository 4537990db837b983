import { ConfigError, type Rng } from '@eqprop/core';
import type { EstimatorDraw } from './estimator.js';
import { OneSidedEstimator } from './one-sided.js';

/** One-sided with ±β drawn per batch (Scellier & Bengio 2017): bias O(β), unbiased in sign. The draw is the signed β. */
export class RandomSignEstimator extends OneSidedEstimator {
  constructor(
    beta: number,
    private readonly rng?: Rng,
  ) {
    super(beta, 'random-sign');
    if (!rng) throw new ConfigError('the random-sign estimator needs an Rng');
  }

  override draw(): EstimatorDraw {
    return this.beta * this.rng!.sign();
  }
}
