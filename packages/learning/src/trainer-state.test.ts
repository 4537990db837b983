import { type Batch, DataFormatError, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, synthetic } from '@eqprop/datasets';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, type TrainerConfig } from './trainer.js';
import type { TrainerState } from './trainer-state.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const data = synthetic({ count: 120, inputSize: 16, numClasses: 4, seed: 3 });
const test = synthetic({ count: 40, inputSize: 16, numClasses: 4, seed: 4 });
const model: ModelConfig = { kind: 'mlp', sizes: [16, 12, 4], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' };
// every piece of state matters here: random-sign β draws from the RNG, Adam's slots and step
// count, persistent training particles and persistent test particles
const config: TrainerConfig = {
  solver: { kind: 'gradient-descent', stepSize: 0.5 },
  freeSteps: 8,
  nudgedSteps: 3,
  estimator: 'random-sign',
  beta: 0.5,
  optimizer: { kind: 'adam', lrs: [0.01, 0.005] },
  persistent: true,
  persistentEval: true,
};
const make = (modelSeed: number, seed: number) =>
  new Trainer(buildModel(model, new Rng(modelSeed)), config, { seed, trainCount: data.count, testCount: test.count });

/** Batches k … k+n−1 of a fixed stream (epochs of 12 batches of 10). */
function train(trainer: Trainer, from: number, n: number): void {
  let i = 0;
  for (let epoch = 0; i < from + n; epoch++) {
    for (const batch of batches(data, 10, { rng: new Rng([5, epoch, 0, 1]), flatten: true }) as Generator<Batch>) {
      if (i >= from && i < from + n) trainer.trainBatch(batch);
      [batch.x, batch.y].forEach((t) => t.dispose());
      if (++i === from + n) break;
    }
  }
}

const evaluateTracked = (t: Trainer) => t.evaluate(batches(test, 20, { shuffle: false, flatten: true }), t.evalParticles);

describe('Trainer.getState / setState: the whole state in one call', () => {
  it('train k batches, take the state, train m more; a fresh trainer given the state trains the same m to the same bits', () => {
    const [k, m] = [7, 9];
    const a = make(1, 2);
    train(a, 0, k);
    evaluateTracked(a); // moves the test particles away from zero
    const state = a.getState();
    // plain data: JSON for all but the particles, which survive a structured clone
    const copy: TrainerState = {
      ...JSON.parse(JSON.stringify({ ...state, particles: undefined, testParticles: undefined })),
      ...structuredClone({ particles: state.particles, testParticles: state.testParticles }),
    };
    train(a, k, m);
    const evalA = evaluateTracked(a);

    // another initialisation and another seed: everything must come from the state
    const b = make(9, 99);
    b.setState(copy);
    expect(b.getState()).toEqual(state); // bit for bit what was taken
    train(b, k, m);
    const evalB = evaluateTracked(b);
    for (const name of Object.keys(a.net.params)) expect(b.net.params[name].dataSync()).toEqual(a.net.params[name].dataSync());
    expect(b.optimizer.getState()).toEqual(a.optimizer.getState());
    expect(b.rng.getState()).toEqual(a.rng.getState());
    expect(b.particles!.layers).toEqual(a.particles!.layers);
    expect(b.evalParticles!.layers).toEqual(a.evalParticles!.layers);
    expect(evalB).toEqual(evalA);
    // and the m batches did train: the state moved
    expect(a.getState().params.W0_1.data).not.toBe(state.params.W0_1.data);
    a.dispose();
    b.dispose();
  });

  it('a state that does not fit is a DataFormatError naming the part, and nothing is written', () => {
    const a = make(1, 2);
    train(a, 0, 2);
    const good = a.getState();
    const b = make(9, 99);
    const before = b.getState();
    const tensors = tf.memory().numTensors;
    const bad = (state: unknown, message: RegExp) => {
      expect(() => b.setState(state as TrainerState)).toThrow(DataFormatError);
      expect(() => b.setState(state as TrainerState)).toThrow(message);
    };
    bad({ ...good, rng: [0, 0, 0, 0] }, /^trainer state: rng must be four 32-bit unsigned integers, not all zero$/);
    bad({ ...good, particles: good.particles!.slice(1) }, /^trainer state: particles must be 2 arrays of \[1440,480\] values \(this trainer's store\)$/);
    bad({ ...good, testParticles: undefined }, /^trainer state: testParticles must be 2 arrays/);
    bad({ ...good, params: { ...good.params, W1_2: good.params.W0_1 } }, /^saved "W1_2" has shape \[16,12\], expected \[12,4\]$/);
    // the optimizer's check comes after the parameters were read: they must not be written either
    bad({ ...good, optimizer: { ...good.optimizer, slots: {} } }, /^saved optimizer state of "W0_1" needs 2 slot\(s\) for adam$/);
    expect(b.getState()).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    const plain = new Trainer(buildModel(model, new Rng(1)), { ...config, persistent: false, persistentEval: false }, { seed: 2 });
    expect(() => plain.setState(good)).toThrow(/^trainer state holds particles, but this trainer keeps none \(check persistent \/ persistentEval\)$/);
    [a, b, plain].forEach((t) => t.dispose());
  });
});
