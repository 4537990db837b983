import { DataFormatError, fetchToHost, type RngState, tf } from '@eqprop/core';
import { deserializeParams, type SavedParams, saveParams } from '@eqprop/models';
import type { OptimizerState } from './optimizers.js';
import type { ParticleStore } from './particles.js';
import type { Trainer } from './trainer.js';

/**
 * Everything a training batch depends on besides the data and the configuration, as plain data
 * for people's own checkpoints: restore it into a trainer built with the same model and config,
 * and training continues bit for bit as if it had never stopped. All of it is JSON-able but the
 * particles: one Float32Array per layer (copies; a number[] is taken back too), large enough
 * (examples × units) to be written as binary.
 */
export interface TrainerState {
  /** Parameters by name (saveParams: shape, dtype and float32 values as base64). */
  params: SavedParams;
  /** The optimizer's step count t (Adam's bias correction: the one counter a batch depends on) and its slots. */
  optimizer: OptimizerState;
  /** The trainer's RNG (random-sign β draws). */
  rng: RngState;
  /** Persistent particles of the training set (config.persistent). */
  particles?: ArrayLike<number>[];
  /** Persistent test and validation particles (config.persistentEval). */
  testParticles?: ArrayLike<number>[];
  validParticles?: ArrayLike<number>[];
}

type ParticleKey = 'particles' | 'testParticles' | 'validParticles';

function stores(trainer: Trainer): [ParticleKey, ParticleStore | undefined][] {
  return [
    ['particles', trainer.particles],
    ['testParticles', trainer.evalParticles],
    ['validParticles', trainer.validParticles],
  ];
}

/** The trainer's state (synchronous reads; see trainerStateAsync for backends without them). */
export function trainerState(trainer: Trainer): TrainerState {
  const state: TrainerState = { params: saveParams(trainer.net.params), optimizer: trainer.optimizer.getState(), rng: trainer.rng.getState() };
  for (const [key, store] of stores(trainer)) if (store) state[key] = store.layers.map((a) => a.slice());
  return state;
}

/** trainerState on any backend: parameters and slots are brought to the host first (WebGPU in Node). */
export async function trainerStateAsync(trainer: Trainer): Promise<TrainerState> {
  await fetchToHost([...Object.values(trainer.net.params), ...trainer.optimizer.slotTensors()]);
  return trainerState(trainer);
}

/**
 * Restores trainerState's output. All of it is checked first (parameters' names and shapes, the
 * optimizer's slots, the RNG words, the particle layouts): a DataFormatError naming the part
 * leaves the trainer as it was.
 */
export function restoreTrainerState(trainer: Trainer, state: TrainerState): void {
  if (typeof state !== 'object' || state === null) throw new DataFormatError('trainer state must be an object (Trainer.getState())');
  const rng = state.rng;
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) || rng.every((w) => w === 0)) {
    throw new DataFormatError('trainer state: rng must be four 32-bit unsigned integers, not all zero');
  }
  for (const [key, store] of stores(trainer)) {
    const saved = state[key];
    if (!store) {
      if (saved !== undefined) throw new DataFormatError(`trainer state holds ${key}, but this trainer keeps none (check persistent / persistentEval)`);
      continue;
    }
    const sizes = store.layers.map((a) => a.length);
    if (!Array.isArray(saved) || saved.length !== sizes.length || saved.some((a, l) => typeof a?.length !== 'number' || a.length !== sizes[l])) {
      throw new DataFormatError(`trainer state: ${key} must be ${sizes.length} arrays of [${sizes}] values (this trainer's store)`);
    }
  }
  const values = deserializeParams(trainer.net.params, state.params);
  try {
    trainer.optimizer.setState(state.optimizer); // checks all of its state before it writes any
  } catch (e) {
    tf.dispose(Object.values(values));
    throw e;
  }
  for (const [name, v] of Object.entries(trainer.net.params)) {
    v.assign(values[name]);
    values[name].dispose();
  }
  trainer.rng.setState([rng[0], rng[1], rng[2], rng[3]]);
  for (const [key, store] of stores(trainer)) state[key]?.forEach((a, l) => store!.layers[l].set(a));
}
