// The run machinery lives in @eqprop/experiments (shared by the CLI, the workers and user code);
// re-exported here so that code written against the CLI package keeps working.
export type {
  Checkpoint,
  CheckpointTarget,
  EpochMetrics,
  PartialEpoch,
  ParticleFile,
  Preset,
  ReadFile,
  RunConfig,
  Session,
  TrainOptions,
} from '@eqprop/experiments';
export {
  atomicWrite,
  BpttTrainer,
  CHECKPOINT_VERSION,
  Checkpointer,
  createSession,
  DEFAULT_PRESET,
  evaluate,
  getPreset,
  loadCheckpoint,
  mergeConfig,
  presetNames,
  RunDir,
  registerPresets,
  resolveWorkers,
  runConfigSchema,
  runDirReader,
  trainRun,
  validateConfig,
} from '@eqprop/experiments';
export type { Command } from './commands/index.js';
export { commands } from './commands/index.js';
