import type { ModelConfig } from '@eqprop/models';
import type { EstimatorDraw } from '../estimators.js';
import type { TrainerConfig } from '../trainer.js';

/** Messages between the data-parallel leader and its workers (structured clone, buffers transferred). */
export interface InitMessage {
  type: 'init';
  backend: string;
  model: ModelConfig;
  trainer: TrainerConfig;
  seed: number;
  /** Parameter values by name, in the leader's current state. */
  params: Record<string, Float32Array>;
  /** The leader's optimizer state, so a resumed run's replicas continue identically. */
  optimizer: ReturnType<import('../optimizers.js').Optimizer['getState']>;
  /** Modules to import first (e.g. one that registers a custom architecture). */
  setupModules: string[];
}

/** A worker's share of a batch. */
export interface ShardData {
  x: Float32Array;
  xShape: number[];
  y: Float32Array;
  classes: number;
  labels: Int32Array;
}

export interface ShardMessage extends ShardData {
  type: 'shard';
  /** The leader's draw of the estimator for this batch (random-sign: the signed β), the same for every share. */
  draw: EstimatorDraw;
  /** Warm start (persistent particles), one array per free layer. */
  init?: Float32Array[];
}

/** Evaluate a share of a batch: free phase from zero (or from `init`), no update. */
export interface EvaluateMessage extends ShardData {
  type: 'evaluate';
  /** Warm start (persistent test particles), one array per free layer. */
  init?: Float32Array[];
}

export interface EvaluatedMessage {
  type: 'evaluated';
  errors: number;
  /** Examples whose true class is not among the 5 highest scores. */
  top5Errors?: number;
  /** Mean cost over the share. */
  loss: number;
  size: number;
  /** The share's free equilibrium, when it started from `init`. */
  freeState?: Float32Array[];
}

export interface ApplyMessage {
  type: 'apply';
  /** Mean gradient of the whole batch, applied by every replica identically. */
  grads: Record<string, Float32Array>;
  lrScale: number;
}

export interface ShardResultMessage {
  type: 'result';
  /** Mean gradient over the shard. */
  grads: Record<string, Float32Array>;
  loss: number;
  errors: number;
  freeSteps: number;
  freeStepsPerExample: number;
  freeState?: Float32Array[];
}

/** A replica's live tensors and their bytes (tf.memory()), to find leaks. */
export interface MemoryMessage {
  type: 'memory';
  numTensors: number;
  numBytes: number;
}

export type ToWorker = InitMessage | ShardMessage | EvaluateMessage | ApplyMessage | { type: 'checksum' } | { type: 'memory' } | { type: 'close' };
export type FromWorker =
  | { type: 'ready' }
  | ShardResultMessage
  | EvaluatedMessage
  | { type: 'applied' }
  | { type: 'checksum'; value: number }
  | MemoryMessage
  | { type: 'error'; message: string; name: string };
