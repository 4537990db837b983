import type { Reads, Rng } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import type { Relaxation, Solver } from '@eqprop/solvers';
import type { Estimate, EstimateRequest, Estimator, EstimatorDraw } from './estimators/estimator.js';
import { createEstimator } from './estimators/registry.js';

export { checkHolomorphic, complexLogistic, complexRelaxReads } from './estimators/complex-fixed-point.js';
export type { Estimate, EstimateRequest, Estimator, EstimatorDraw } from './estimators/estimator.js';
export { BaseEstimator, costParamGrads, disposeRelaxation, nudgeReads } from './estimators/estimator.js';
export { FivePhaseEstimator } from './estimators/five-phase.js';
export type { HolomorphicOptions } from './estimators/holomorphic.js';
export { HolomorphicEstimator } from './estimators/holomorphic.js';
export { OneSidedEstimator } from './estimators/one-sided.js';
export { RandomSignEstimator } from './estimators/random-sign.js';
export type { EstimatorFactory, EstimatorOptions } from './estimators/registry.js';
export { checkEstimatorName, createEstimator, estimatorNames, isEstimatorName, registerEstimator } from './estimators/registry.js';
export { SymmetricEstimator } from './estimators/symmetric.js';

/** The three estimators of the seed papers. Every registered name: `estimatorNames()`. */
export const ESTIMATORS = ['one-sided', 'symmetric', 'random-sign'] as const;
/** An estimator's registry name (`one-sided`, `holomorphic-4`, a user-registered one …). */
export type EstimatorKind = string;

/**
 * @deprecated use `createEstimator(name, { beta, rng })`, which returns the `Estimator` contract.
 * Kept for code written against the class of three kinds: the same estimators by name.
 */
export class EpEstimator implements Estimator {
  private readonly impl: Estimator;
  constructor(
    readonly kind: EstimatorKind,
    beta: number,
    rng?: Rng,
  ) {
    this.impl = createEstimator(kind, { beta, rng });
  }
  get name(): string {
    return this.impl.name;
  }
  get beta(): number {
    return this.impl.beta;
  }
  draw(): EstimatorDraw {
    return this.impl.draw();
  }
  /** The signed β of the next estimate. */
  drawBeta(): number {
    return this.impl.draw() as number;
  }
  check(net: EnergyNetwork, solver: Solver): void {
    this.impl.check?.(net, solver);
  }
  estimate(req: EstimateRequest, draw: EstimatorDraw = this.draw()): Estimate {
    return this.impl.estimate(req, draw);
  }
  estimateReads(req: EstimateRequest, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    return this.impl.estimateReads(req, draw);
  }
  estimateFrom(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Estimate {
    return this.impl.estimateFrom(req, free, draw);
  }
  estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    return this.impl.estimateFromReads(req, free, draw);
  }
}
