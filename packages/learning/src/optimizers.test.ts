import { describe, it, expect, beforeAll } from 'vitest';
import { tf, setupBackend } from '@eqprop/core';
import { Optimizer } from './optimizers.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** Textbook Adam, SGD and momentum on plain arrays: the reference for the tfjs implementation. */
function reference(kind: 'sgd' | 'momentum' | 'adam', p0: number[], grads: number[][], lr: number) {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, t) => {
    for (let i = 0; i < p.length; i++) {
      if (kind === 'sgd') p[i] -= lr * g[i];
      else if (kind === 'momentum') {
        m[i] = 0.9 * m[i] + g[i];
        p[i] -= lr * m[i];
      } else {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        const mh = m[i] / (1 - 0.9 ** (t + 1));
        const vh = v[i] / (1 - 0.999 ** (t + 1));
        p[i] -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
      }
    }
  });
  return p;
}

describe('optimizers', () => {
  for (const kind of ['sgd', 'momentum', 'adam'] as const) {
    it(`${kind} matches the textbook update`, () => {
      const p0 = [0.5, -0.3, 0.2, 1.0];
      const grads = [[0.1, -0.2, 0.05, 0.3], [0.2, 0.1, -0.1, 0.0], [-0.3, 0.05, 0.2, 0.1]];
      const w = tf.variable(tf.tensor1d(p0));
      const opt = new Optimizer({ kind, lrs: [0.01] }, { w }, { w: 1 });
      for (const g of grads) opt.step({ w: tf.tensor1d(g) });
      const got = Array.from(w.dataSync());
      reference(kind, p0, grads, 0.01).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    });
  }

  it('uses one rate per layer group and checks their number', () => {
    const a = tf.variable(tf.tensor1d([1]));
    const b = tf.variable(tf.tensor1d([1]));
    const opt = new Optimizer({ kind: 'sgd', lrs: [0.1, 0.01] }, { a, b }, { a: 1, b: 2 });
    opt.step({ a: tf.tensor1d([1]), b: tf.tensor1d([1]) });
    expect(a.dataSync()[0]).toBeCloseTo(0.9, 6);
    expect(b.dataSync()[0]).toBeCloseTo(0.99, 6);
    expect(() => new Optimizer({ kind: 'sgd', lrs: [0.1, 0.1, 0.1] }, { a, b }, { a: 1, b: 2 })).toThrow(/got 3 learning rates for 2 layers/);
    expect(() => new Optimizer({ kind: 'sgd', lrs: [-1] }, { a }, { a: 1 })).toThrow(/learning rates must be ≥ 0, got -1/);
  });
});
