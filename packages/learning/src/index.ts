export { EpEstimator, ESTIMATORS, costParamGrads, disposeRelaxation } from './estimators.js';
export type { EstimatorKind, Estimate, EstimateRequest } from './estimators.js';
export { Optimizer, OPTIMIZERS } from './optimizers.js';
export type { OptimizerConfig, OptimizerKind } from './optimizers.js';
export { ParticleStore } from './particles.js';
export { Trainer, EvalTotal, makeSolver, parameterGroups } from './trainer.js';
export type { TrainerConfig, TrainerOptions, SolverConfig, BatchResult, EvalResult, GradsOfBatch } from './trainer.js';
