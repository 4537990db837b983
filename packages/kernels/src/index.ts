export type { DensePlan, LayerPlan, Product } from './dense-plan.js';
export { densePlan, unfusedReason } from './dense-plan.js';
export type { FusedMode } from './fused-fixed-point.js';
export { FusedFixedPoint } from './fused-fixed-point.js';
export type { FusedOptimizerConfig } from './fused-optimizer.js';
export { FusedOptimizer } from './fused-optimizer.js';
export { CLIP01, LOGISTIC, WasmKernels } from './wasm-kernels.js';
export type { KernelsMode } from './with-kernels.js';
export { KERNELS_MODES, withKernels } from './with-kernels.js';
