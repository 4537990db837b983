export { ContinualTrainer } from './continual-trainer.js';
export type { CoupledVariant } from './estimators/coupled.js';
export { CoupledEstimator } from './estimators/coupled.js';
export type {
  Estimate,
  EstimateRequest,
  Estimator,
  EstimatorDraw,
  EstimatorFactory,
  EstimatorKind,
  EstimatorOptions,
  HolomorphicOptions,
} from './estimators.js';
export {
  BaseEstimator,
  checkEstimatorName,
  checkHolomorphic,
  complexLogistic,
  complexRelaxReads,
  costParamGrads,
  createEstimator,
  disposeRelaxation,
  EpEstimator,
  ESTIMATORS,
  estimatorNames,
  FivePhaseEstimator,
  HolomorphicEstimator,
  isEstimatorName,
  nudgeReads,
  OneSidedEstimator,
  RandomSignEstimator,
  registerEstimator,
  SymmetricEstimator,
} from './estimators.js';
export type { OptimizerConfig, OptimizerKind, OptimizerState } from './optimizers.js';
export { OPTIMIZERS, Optimizer } from './optimizers.js';
export { ParticleStore } from './particles.js';
export type { BatchResult, EvalResult, GradsOfBatch, SolverConfig, TrainerConfig, TrainerOptions } from './trainer.js';
export { EvalTotal, makeSolver, parameterGroups, Trainer } from './trainer.js';
export type { TrainerState } from './trainer-state.js';
