import { type Batch, NumericalError, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, synthetic } from '@eqprop/datasets';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { Trainer, type TrainerConfig } from './trainer.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const data = synthetic({ count: 200, inputSize: 16, numClasses: 4, seed: 3 });

const setups: { name: string; model: ModelConfig; trainer: TrainerConfig }[] = [
  {
    name: 'hopfield, gradient descent, random-sign β, Adam, persistent particles',
    model: { kind: 'mlp', sizes: [16, 12, 4], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' },
    trainer: {
      solver: { kind: 'gradient-descent', stepSize: 0.5 },
      freeSteps: 8,
      nudgedSteps: 3,
      estimator: 'random-sign',
      beta: 0.5,
      optimizer: { kind: 'adam', lrs: [0.01, 0.005] },
      persistent: true,
    },
  },
  {
    name: 'primitive, fixed point with tolerance, symmetric β, momentum, CE readout',
    model: { kind: 'mlp', sizes: [16, 12, 8, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'ce', init: 'fan-in' },
    trainer: {
      solver: { kind: 'fixed-point', schedule: 'alternating' },
      freeSteps: 8,
      nudgedSteps: 3,
      tol: 1e-3,
      estimator: 'symmetric',
      beta: 0.1,
      optimizer: { kind: 'momentum', lrs: [0.05] },
      persistent: false,
    },
  },
  {
    name: 'primitive, synchronous fixed point with a per-example tolerance, one-sided β, SGD',
    model: { kind: 'mlp', sizes: [16, 12, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' },
    trainer: {
      solver: { kind: 'fixed-point', schedule: 'synchronous' },
      freeSteps: 20,
      nudgedSteps: 4,
      tol: 1e-3,
      tolPerExample: true,
      estimator: 'one-sided',
      beta: 0.2,
      optimizer: { kind: 'sgd', lrs: [0.1] },
      persistent: false,
    },
  },
];

function makeTrainer(s: (typeof setups)[number]): Trainer {
  return new Trainer(buildModel(s.model, new Rng(1)), s.trainer, { seed: 2, trainCount: data.count });
}

function* forever(): Generator<Batch> {
  for (let epoch = 0; ; epoch++) yield* batches(data, 10, { rng: new Rng([5, 0, epoch, 1]), flatten: true });
}

describe('Trainer: no tensor leaks', () => {
  for (const s of setups) {
    it(`the tensor count stays flat over 1000 batches (${s.name})`, () => {
      const trainer = makeTrainer(s);
      const counts: number[] = [];
      let n = 0;
      for (const batch of forever()) {
        trainer.trainBatch(batch);
        batch.x.dispose();
        batch.y.dispose();
        if (++n % 250 === 0) {
          trainer.evaluate(batches(data, 50, { shuffle: false, flatten: true }));
          trainer.checkParams();
        }
        if (n % 50 === 0) counts.push(tf.memory().numTensors);
        if (n === 1000) break;
      }
      expect(counts).toHaveLength(20);
      expect(new Set(counts).size).toBe(1);
      trainer.dispose();
    });
  }
});

describe('Trainer: a per-example tolerance', () => {
  it('reports fewer steps per example than for the batch, and needs a tolerance', () => {
    const trainer = makeTrainer(setups[2]);
    const batch = batches(data, 10, { rng: new Rng(4), flatten: true }).next().value as Batch;
    const r = trainer.trainBatch(batch);
    expect(r.freeStepsPerExample).toBeLessThan(r.freeSteps);
    expect(r.freeStepsPerExample).toBeGreaterThan(0);
    [batch.x, batch.y].forEach((t) => t.dispose());
    trainer.dispose();
    const { tol: _, ...noTol } = setups[2].trainer;
    expect(() => new Trainer(buildModel(setups[2].model, new Rng(1)), noTol, { seed: 2 })).toThrow(/per-example tolerance .* needs tol/);
  });
});

describe('Trainer: NaN and Inf stop training with a message naming the culprit', () => {
  // the guard tells apart: a parameter, a layer's state, the energy (and its term), an EP
  // gradient (and its parameter), the cost; each case provokes one and expects its exact words
  const first = () => batches(data, 10, { rng: new Rng(9), flatten: true }).next().value as Batch;
  const dispose = (b: Batch) => [b.x, b.y].forEach((t) => t.dispose());

  it('a non-finite parameter is named', () => {
    const trainer = makeTrainer(setups[0]);
    const w = trainer.net.params.W1_2;
    w.assign(tf.tidy(() => w.add(tf.oneHot([3], w.shape[0]).reshape([w.shape[0], 1]).mul(Number.NaN))));
    const batch = first();
    const before = tf.memory().numTensors;
    expect(() => trainer.trainBatch(batch)).toThrow(NumericalError);
    expect(() => trainer.trainBatch(batch)).toThrow(/^non-finite values \(NaN or Inf\) in parameter W1_2$/);
    expect(() => trainer.checkParams()).toThrow(/^non-finite values \(NaN or Inf\) in parameter W1_2$/);
    expect(tf.memory().numTensors).toBe(before); // nothing leaks on the error path
  });

  it('a non-finite state is named by its layer', () => {
    const trainer = makeTrainer(setups[1]);
    const batch = first();
    const bad = { ...batch, x: tf.tidy(() => batch.x.mul(tf.scalar(Number.NaN))) };
    // NaN input: layer 1 (fed by it) is the first to go
    expect(() => trainer.trainBatch(bad)).toThrow(/^non-finite values \(NaN or Inf\) in the state of layer 1 at the free equilibrium$/);
  });

  it('an energy that overflows names its term', () => {
    const trainer = makeTrainer(setups[0]);
    // finite parameters whose terms' energies overflow (−Σ a₁ W a₂ to −∞, −Σ b a₂ to +∞, NaN in all);
    // the states stay clipped to [0, 1]. Two bad terms: the first in the network's order is named
    trainer.net.params.W1_2.assign(tf.fill(trainer.net.params.W1_2.shape, 3e38));
    trainer.net.params.b2.assign(tf.fill(trainer.net.params.b2.shape, -3e38));
    expect(() => trainer.trainBatch(first())).toThrow(/^the energy at the free equilibrium is NaN \(first in term W1_2, layers 1 and 2\)$/);
  });

  it('a β that underflows makes every EP gradient 0·∞ = NaN: the first is named', () => {
    // 1/(2β) is +∞ in float32 while ±β nudges nothing: parameters, states, energy and cost stay finite
    const trainer = new Trainer(buildModel(setups[1].model, new Rng(1)), { ...setups[1].trainer, beta: 1e-45 }, { seed: 2 });
    const batch = first();
    expect(() => trainer.trainBatch(batch)).toThrow(/^non-finite EP gradient for parameter W0_1$/);
    dispose(batch);
  });

  it('an infinite target through the CE readout is named by the readout gradient it breaks', () => {
    // the nudge saturates the output layer (finite), but ∂C/∂W_out = aᵀ(softmax − y)/B is −∞
    const trainer = makeTrainer(setups[1]);
    const batch = first();
    const y = tf.tidy(() => tf.where(tf.equal(batch.y, 1), tf.fill(batch.y.shape, Number.POSITIVE_INFINITY), batch.y)) as tf.Tensor2D;
    expect(() => trainer.trainBatch({ ...batch, y })).toThrow(/^non-finite EP gradient for parameter Wout$/);
    [y, batch.x, batch.y].forEach((t) => t.dispose());
  });

  it('a cost that overflows at a finite equilibrium is named as the cost', () => {
    // MSE to targets of 1e30: ½‖s − y‖² overflows float32; the nudge only saturates the output layer
    const trainer = makeTrainer(setups[0]);
    const batch = first();
    const y = tf.tidy(() => tf.mul(batch.y, 1e30)) as tf.Tensor2D;
    expect(() => trainer.trainBatch({ ...batch, y })).toThrow(/^the cost at the free equilibrium is Infinity$/);
    [y, batch.x, batch.y].forEach((t) => t.dispose());
  });

  it('an update that overflows is caught by checkParams before a checkpoint, naming the parameter', () => {
    // layer 2's rate × decay overflows in the step, after the batch's own checks have passed
    const config = { ...setups[0].trainer, optimizer: { kind: 'sgd' as const, lrs: [0.01, 1e30], weightDecay: 1e10 } };
    const trainer = new Trainer(buildModel(setups[0].model, new Rng(1)), config, { seed: 2, trainCount: data.count });
    const batch = first();
    trainer.trainBatch(batch);
    dispose(batch);
    const finite = (name: string) => trainer.net.params[name].dataSync().every(Number.isFinite);
    expect([finite('W0_1'), finite('b1'), finite('W1_2')]).toEqual([true, true, false]);
    expect(() => trainer.checkParams()).toThrow(NumericalError);
    expect(() => trainer.checkParams()).toThrow(/^non-finite values \(NaN or Inf\) in parameter W1_2$/);
  });
});

describe('Trainer: persistent evaluation (test particles)', () => {
  const s = setups[0];
  const test = synthetic({ count: 60, inputSize: 16, numClasses: 4, seed: 8 });
  const testBatches = () => batches(test, 20, { shuffle: false, flatten: true });
  const copy = (layers: Float32Array[]) => layers.map((a) => a.slice());

  it('starts from zero, keeps the equilibrium of each example and continues from it next time', () => {
    const trainer = new Trainer(
      buildModel(s.model, new Rng(1)),
      { ...s.trainer, persistentEval: true },
      { seed: 2, trainCount: data.count, testCount: test.count },
    );
    let n = 0;
    for (const batch of forever()) {
      trainer.trainBatch(batch);
      [batch.x, batch.y].forEach((t) => t.dispose());
      if (++n === 30) break;
    }
    const store = trainer.evalParticles!;
    const before = tf.memory().numTensors;
    // the store starts at zero: the first evaluation is the one from zero
    const fromZero = trainer.evaluate(testBatches());
    const first = trainer.evaluate(testBatches(), store);
    expect(first.error).toBe(fromZero.error);
    expect(first.loss).toBeCloseTo(fromZero.loss, 6);
    // it stored the free equilibria, and the next evaluation relaxes on from them
    const stored = copy(store.layers);
    expect(stored[0].some((v) => v !== 0)).toBe(true);
    trainer.evaluate(testBatches(), store);
    for (const batch of testBatches()) {
      const init = tf.tidy(() => stored.map((a, l) => tf.gather(tf.tensor(a, [test.count, ...trainer.net.layerShapes[l]]), batch.indices)));
      const expected = trainer.relaxFree(batch.x, undefined, init);
      const got = store.gather(batch.indices);
      const gap = (a: tf.Tensor[]) => Math.max(...a.map((t, l) => tf.tidy(() => tf.max(tf.abs(tf.sub(t, got[l]))).dataSync()[0])));
      expect(gap(expected)).toBeLessThan(1e-6);
      // and not where a relaxation from zero would be (8 steps do not settle it fully)
      const zero = trainer.relaxFree(batch.x);
      expect(gap(zero)).toBeGreaterThan(1e-4);
      [...init, ...expected, ...zero, ...got, batch.x, batch.y].forEach((t) => t.dispose());
    }
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
  });

  it('needs the test set size, and refuses examples outside its store', () => {
    expect(() => new Trainer(buildModel(s.model, new Rng(1)), { ...s.trainer, persistentEval: true }, { seed: 2, trainCount: data.count })).toThrow(
      /persistent evaluation .* needs the test set size/,
    );
    const trainer = new Trainer(buildModel(s.model, new Rng(1)), { ...s.trainer, persistentEval: true }, { seed: 2, trainCount: data.count, testCount: 50 });
    expect(() => trainer.evaluate(testBatches(), trainer.evalParticles)).toThrow(/example index 50 is outside the 50 examples this particle store holds/);
    trainer.dispose();
  });
});
