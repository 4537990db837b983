export { GradientDescent } from './gradient-descent.js';
export { FixedPoint } from './fixed-point.js';
export type { FixedPointSchedule, FixedPointOptions, NudgePlacement } from './fixed-point.js';
export { iterate, iterateReads, validateRelaxOptions, StopPredictor, StepSolver } from './solver.js';
export type { Solver, Relaxation, RelaxOptions, Step } from './solver.js';
