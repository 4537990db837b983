export { layeredMlp } from './mlp.js';
export type { MlpConfig } from './mlp.js';
export { initWeight, initBias } from './init.js';
export type { InitScheme } from './init.js';
export { buildModel, registerArchitecture } from './registry.js';
export type { ModelConfig, ArchitectureBuilder } from './registry.js';
export { saveParams, loadParams, cloneParams } from './params-io.js';
export type { SavedParams } from './params-io.js';
