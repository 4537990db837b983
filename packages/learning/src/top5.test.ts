import { Rng, setupBackend, tf } from '@eqprop/core';
import { batches, synthetic } from '@eqprop/datasets';
import { buildModel } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { classesAbove, EvalTotal, Trainer } from './trainer.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

describe('top-5 error', () => {
  it('ranks the true class (2nd → 1, 6th → 5; ties to the lower index, as argMax)', () => {
    const classes = 12;
    const scores = [
      // true class 7 is the 2nd most likely
      [0.1, 0.2, 0.3, 0.05, 0.0, 0.15, 0.12, 0.8, 0.9, 0.01, 0.02, 0.03],
      // true class 3 is the 6th most likely: classes 0, 1, 2, 4, 5 score higher
      [0.9, 0.8, 0.7, 0.4, 0.6, 0.5, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0],
      // true class 11 is the most likely
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      // true class 0 ties with class 1 for the top: argMax says 0
      [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      // true class 1 ties with class 0 for the top: argMax says 0
      [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      // all scores tied (a saturated output layer): true class 9 ranks 9th, a top-5 error
      new Array(12).fill(0),
    ];
    const labels = [7, 3, 11, 0, 1, 9];
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
    const ranks = classesAbove(tf.tensor2d(scores), y);
    expect(Array.from(ranks.dataSync())).toEqual([1, 5, 0, 0, 1, 9]);
    // the true class can also be marked by the largest target of another encoding (±1 targets)
    const signed = tf.sub(tf.mul(y, 2), 1);
    expect(Array.from(classesAbove(tf.tensor2d(scores), signed).dataSync())).toEqual([1, 5, 0, 0, 1, 9]);
  });

  it('EvalTotal reports top5Error only when every share counted it', () => {
    const total = new EvalTotal();
    total.add({ errors: 3, top5Errors: 1, loss: 1, size: 4 });
    total.add({ errors: 1, top5Errors: 0, loss: 2, size: 4 });
    expect(total.result()).toEqual({ error: 0.5, top5Error: 0.125, loss: 1.5, count: 8 });
    total.add({ errors: 0, loss: 0, size: 2 });
    expect(total.result().top5Error).toBeUndefined();
  });

  it('evaluate: top-5 error equals a host-side ranking of the free equilibrium scores, and ≤ top-1 error', () => {
    const data = synthetic({ count: 120, inputSize: 16, numClasses: 12, seed: 4 });
    const net = buildModel({ kind: 'mlp', sizes: [16, 20, 12], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(3));
    const trainer = new Trainer(
      net,
      {
        solver: { kind: 'gradient-descent', stepSize: 0.5 },
        freeSteps: 15,
        nudgedSteps: 4,
        estimator: 'symmetric',
        beta: 0.5,
        optimizer: { kind: 'sgd', lrs: [0.1, 0.05] },
        persistent: false,
      },
      { seed: 1, trainCount: data.count },
    );
    const expectTop5 = () => {
      let top1 = 0;
      let top5 = 0;
      for (const batch of batches(data, 40, { shuffle: false, flatten: true })) {
        const state = trainer.relaxFree(batch.x);
        const scoreTensor = tf.tidy(() => net.cost.scores(net.activity(net.depth, state[state.length - 1])));
        const scores = scoreTensor.arraySync() as number[][];
        scoreTensor.dispose();
        scores.forEach((row, i) => {
          const truth = batch.labels[i];
          const order = row.map((s, c) => ({ s, c })).sort((a, b) => b.s - a.s || a.c - b.c);
          const rank = order.findIndex((o) => o.c === truth);
          if (rank > 0) top1++;
          if (rank >= 5) top5++;
        });
        state.forEach((t) => t.dispose());
        batch.x.dispose();
        batch.y.dispose();
      }
      return { top1: top1 / data.count, top5: top5 / data.count };
    };
    const before = trainer.evaluate(batches(data, 40, { shuffle: false, flatten: true }));
    const host = expectTop5();
    expect(before.top5Error).toBeCloseTo(host.top5, 10);
    expect(before.error).toBeCloseTo(host.top1, 10);
    expect(before.top5Error!).toBeGreaterThan(0);
    expect(before.top5Error!).toBeLessThan(before.error);
    let tensors = 0;
    for (let epoch = 0; epoch < 3; epoch++) {
      if (epoch === 1) tensors = tf.memory().numTensors; // after the trainer's first-step allocations
      for (const b of batches(data, 10, { rng: new Rng(90 + epoch), flatten: true })) {
        trainer.trainBatch(b);
        b.x.dispose();
        b.y.dispose();
      }
    }
    const after = trainer.evaluate(batches(data, 40, { shuffle: false, flatten: true }));
    expect(after.top5Error).toBeCloseTo(expectTop5().top5, 10);
    expect(after.top5Error!).toBeLessThanOrEqual(after.error);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
