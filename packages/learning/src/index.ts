export type { Estimate, EstimateRequest, EstimatorKind } from './estimators.js';
export { costParamGrads, disposeRelaxation, EpEstimator, ESTIMATORS } from './estimators.js';
export type { OptimizerConfig, OptimizerKind } from './optimizers.js';
export { OPTIMIZERS, Optimizer } from './optimizers.js';
export { ParticleStore } from './particles.js';
export type { BatchResult, EvalResult, GradsOfBatch, SolverConfig, TrainerConfig, TrainerOptions } from './trainer.js';
export { EvalTotal, makeSolver, parameterGroups, Trainer } from './trainer.js';
