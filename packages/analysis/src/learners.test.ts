import { type Batch, ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import type { TrainerConfig } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { LEARNERS, makeLearner, parseLearners } from './learners.js';
import { TwinTrainer } from './twin-trainer.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const model: ModelConfig = { kind: 'mlp', sizes: [8, 12, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse', init: 'glorot' };
const config: TrainerConfig = {
  solver: { kind: 'gradient-descent', stepSize: 0.5 },
  freeSteps: 30,
  nudgedSteps: 6,
  estimator: 'symmetric',
  beta: 0.5,
  optimizer: { kind: 'sgd', lrs: [0.2, 0.1] },
  persistent: false,
};

/** 60 examples of 3 classes: which third of the input carries the most mass. */
function data(): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(9);
  const x = rng.uniformArray(60 * 8, 0, 0.3);
  const labels = Int32Array.from({ length: 60 }, (_, i) => i % 3);
  labels.forEach((c, i) => [0, 1, 2].forEach((j) => (x[i * 8 + c * 3 + j - (c === 2 ? 1 : 0)] += 0.7)));
  return { x, labels };
}

function batch(d: ReturnType<typeof data>, lo: number, hi: number): Batch {
  const labels = d.labels.slice(lo, hi);
  return {
    x: tf.tensor2d(d.x.slice(lo * 8, hi * 8), [hi - lo, 8]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), 3).toFloat() as tf.Tensor2D,
    labels,
    indices: Int32Array.from({ length: hi - lo }, (_, i) => lo + i),
  };
}

describe('learners of a comparison', () => {
  it.each(LEARNERS)('%s trains from the network’s initial weights and lowers the loss', (kind) => {
    const d = data();
    const net = buildModel(model, new Rng(1));
    const learner = makeLearner(kind, net, config, { seed: 2, trainCount: 60 });
    expect(learner.kind).toBe(kind);
    const start = learner.evaluate([batch(d, 0, 60)]);
    for (let epoch = 0; epoch < 8; epoch++)
      for (let b = 0; b < 6; b++) {
        const bt = batch(d, b * 10, b * 10 + 10);
        const r = learner.trainBatch(bt);
        expect(r.size).toBe(10);
        expect(Number.isFinite(r.loss)).toBe(true);
        bt.x.dispose();
        bt.y.dispose();
      }
    const end = learner.evaluate([batch(d, 0, 60)]);
    expect(end.loss, `${kind}: ${start.loss} → ${end.loss}`).toBeLessThan(start.loss * 0.8);
    learner.dispose();
  });

  it('the twin starts from the very weights EP starts from, and uses the same optimizer class', () => {
    const net = buildModel(model, new Rng(1));
    const twin = new TwinTrainer(net, config.optimizer);
    for (const [n, v] of Object.entries(net.params)) expect(Array.from(twin.twin.params[n].dataSync())).toEqual(Array.from(v.dataSync()));
    expect(twin.optimizer.lrOf('W0_1')).toBe(0.2);
    expect(twin.optimizer.lrOf('W1_2')).toBe(0.1);
    twin.dispose();
  });

  it('parses a list of baselines and names an unknown one', () => {
    expect(parseLearners('bp, bptt,bp')).toEqual(['bp', 'bptt']);
    expect(() => parseLearners('bp,adam')).toThrow(ConfigError);
    expect(() => parseLearners('bp,adam')).toThrow(/unknown baseline "adam": expected a comma-separated list of bp, bptt, rbp, chl/);
  });
});
