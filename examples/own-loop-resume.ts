/**
 * Checkpoints in your own training loop: `trainer.getState()` is everything a batch depends on
 * (parameters, optimizer slots and step count, RNG, persistent particles) as plain data. Here it
 * goes to a folder (JSON, and the particles as raw float32 files); a fresh process builds the same
 * model and trainer, `setState`s it and goes on exactly where the first one was.
 *
 *   pnpm --filter @eqprop/examples test     (runs this file through own-loop-resume.test.ts)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, setupBackend } from '@eqprop/core';
import { batches, synthetic } from '@eqprop/datasets';
import { Trainer, type TrainerConfig, type TrainerState } from '@eqprop/learning';
import { buildModel, paramsToArrays } from '@eqprop/models';

const data = synthetic({ count: 200, inputSize: 16, numClasses: 4, seed: 3 });
const config: TrainerConfig = {
  solver: { kind: 'gradient-descent', stepSize: 0.5 },
  freeSteps: 10,
  nudgedSteps: 3,
  estimator: 'random-sign', // draws ±β from the trainer's RNG: part of the state
  beta: 0.5,
  optimizer: { kind: 'adam', lrs: [0.01, 0.005] },
  persistent: true, // persistent particles: part of the state
};

/** A trainer as a fresh process would make it (its own initial weights and seed: the state replaces them). */
export function makeTrainer(seed: number): Trainer {
  const net = buildModel({ kind: 'mlp', sizes: [16, 12, 4], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(seed));
  return new Trainer(net, config, { seed, trainCount: data.count });
}

/** The batch stream of every run: epoch e shuffled by Rng([7, e, 0, 1]), 20 batches of 10. */
function* stream() {
  for (let epoch = 0; ; epoch++) yield* batches(data, 10, { rng: new Rng([7, epoch, 0, 1]), flatten: true });
}

/** Trains on batches `from` … `to − 1` of the stream (a resumed run skips the ones it has seen). */
export function trainBatches(trainer: Trainer, from: number, to: number): void {
  let i = 0;
  for (const batch of stream()) {
    if (i >= from) trainer.trainBatch(batch);
    batch.x.dispose();
    batch.y.dispose();
    if (++i === to) break;
  }
}

/** The state to a folder: JSON for all but the particles, which are large and written as float32. */
export function saveState(dir: string, state: TrainerState): void {
  const { particles, ...rest } = state;
  writeFileSync(join(dir, 'state.json'), JSON.stringify(rest));
  particles?.forEach((layer, l) => writeFileSync(join(dir, `particles-${l}.f32`), new Float32Array(layer)));
}

export function loadState(dir: string, layers: number): TrainerState {
  const rest = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  const particles = Array.from({ length: layers }, (_, l) => {
    const bytes = readFileSync(join(dir, `particles-${l}.f32`));
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  });
  return { ...rest, particles };
}

/** k batches, a checkpoint, m more; then a fresh trainer resumed from the checkpoint trains the same m. */
export async function resumeFromCheckpoint(dir: string, k = 15, m = 15) {
  await setupBackend('wasm');
  const first = makeTrainer(1);
  trainBatches(first, 0, k);
  saveState(dir, first.getState());
  trainBatches(first, k, k + m);

  const resumed = makeTrainer(2); // other weights, other seed: everything comes from the checkpoint
  resumed.setState(loadState(dir, resumed.net.layerShapes.length));
  trainBatches(resumed, k, k + m);

  const result = { straight: paramsToArrays(first.net), resumed: paramsToArrays(resumed.net), particles: [first.particles!.layers, resumed.particles!.layers] };
  first.dispose();
  resumed.dispose();
  return result;
}
