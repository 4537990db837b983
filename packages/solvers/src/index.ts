export type { FixedPointOptions, FixedPointSchedule, NudgePlacement } from './fixed-point.js';
export { FixedPoint } from './fixed-point.js';
export { GradientDescent } from './gradient-descent.js';
export type { Clamp, Relaxation, RelaxOptions, Solver, Step } from './solver.js';
export { iterate, iterateReads, StepSolver, StopPredictor, validateRelaxOptions } from './solver.js';
