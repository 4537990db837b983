export { runConfigSchema, validateConfig, mergeConfig } from './config.js';
export type { RunConfig } from './config.js';
export { getPreset, presetNames, registerPresets, DEFAULT_PRESET } from './presets/index.js';
export type { Preset } from './presets/index.js';
export { createSession, trainRun, evaluate } from './training-run.js';
export { BpttTrainer } from './bptt-trainer.js';
export { RunDir, atomicWrite } from './run-dir.js';
export { commands } from './commands/index.js';
