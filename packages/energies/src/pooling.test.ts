import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTerm } from './check-term.js';
import { ConvCoupling } from './conv-coupling.js';
import { checkPooling, type Pooling, pool, poolAndRoute, poolRouting, softmaxPool, unpool } from './pooling.js';
import { relError } from './test-utils.js';

// Softmax pooling as the energy-based-learning code of Scellier et al. defines it (conv_soft_pool):
// each window's Σ c·e^{c/τ} / Σ e^{c/τ}. Its adjoint must be the exact gradient of Σ u · P(c), the
// softmax weights' own derivative included, or a coupling built on it has fields that are not −∂E/∂a.
beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  await setupBackend('wasm');
});

const soft = (size: number, temperature?: number): Pooling => ({ kind: 'softmax', size, temperature });

/** [b, H, W, C] random values in ±scale, as plain arrays for the float64 reference. */
function randomLayer(rng: Rng, shape: number[], scale = 2): number[][][][] {
  const [b, H, W, C] = shape;
  return Array.from({ length: b }, () =>
    Array.from({ length: H }, () => Array.from({ length: W }, () => Array.from({ length: C }, () => scale * (2 * rng.next() - 1)))),
  );
}

/** P by its definition, in float64, window by window. */
function softmaxPoolF64(c: number[][][][], size: number, tau: number): number[][][][] {
  return c.map((img) =>
    Array.from({ length: img.length / size }, (_, y) =>
      Array.from({ length: img[0].length / size }, (_, x) =>
        img[0][0].map((_, ch) => {
          let [num, den] = [0, 0];
          for (let i = 0; i < size; i++)
            for (let j = 0; j < size; j++) {
              const v = img[y * size + i][x * size + j][ch];
              num += v * Math.exp(v / tau);
              den += Math.exp(v / tau);
            }
          return num / den;
        }),
      ),
    ),
  );
}

describe('softmax pooling', () => {
  it.each([
    [2, 1],
    [3, 0.3],
    [2, 4],
  ])('size %d, temperature %d: P is Σ c·e^{c/τ} / Σ e^{c/τ} over each window (float64 reference)', (size, tau) => {
    const rng = new Rng(size * 10 + Math.round(tau * 10));
    const c = randomLayer(rng, [2, 2 * size, 3 * size, 3]);
    tf.tidy(() => {
      expect(relError(pool(tf.tensor(c), soft(size, tau)), tf.tensor(softmaxPoolF64(c, size, tau)))).toBeLessThan(1e-5);
    });
  });

  it('tends to max-pooling as τ → 0 and to average pooling as τ → ∞, and stays finite at large values', () => {
    const rng = new Rng(3);
    tf.tidy(() => {
      const c = tf.tensor(randomLayer(rng, [2, 4, 4, 2])) as tf.Tensor4D;
      expect(relError(pool(c, soft(2, 1e-3)), tf.maxPool(c, 2, 2, 'valid'))).toBeLessThan(1e-4);
      expect(relError(pool(c, soft(2, 1e5)), tf.avgPool(c, 2, 2, 'valid'))).toBeLessThan(1e-4);
      // e^{c/τ} of c = 500 overflows float32; the softmax is shifted by each window's maximum
      const big = tf.mul(c, 250);
      const [p, jac] = softmaxPool(big, soft(2));
      expect(tf.all(tf.isFinite(p)).dataSync()[0]).toBe(1);
      expect(tf.all(tf.isFinite(jac)).dataSync()[0]).toBe(1);
      expect(relError(p, tf.maxPool(big as tf.Tensor4D, 2, 2, 'valid'))).toBeLessThan(1e-4);
    });
  });

  it('its adjoint Pᵀu (unpool with poolRouting) on wasm equals tf.grad of Σ u · P(c) on cpu', async () => {
    const rng = new Rng(4);
    const cases: Pooling[] = [soft(2), soft(3, 0.5), soft(2, 3)];
    for (const p of cases) {
      const c = randomLayer(rng, [2, 2 * p.size, 2 * p.size, 3]);
      const u = randomLayer(rng, [2, 2, 2, 3], 1);
      await setupBackend('wasm');
      const before = tf.memory().numTensors;
      const got = tf.tidy(() => {
        const ct = tf.tensor(c);
        const [pooled, routing] = poolAndRoute(ct, p);
        const again = poolRouting(ct, p);
        expect(relError(again, routing)).toBe(0);
        expect(relError(pooled, pool(ct, p))).toBeLessThan(1e-6);
        return unpool(tf.tensor(u), p, routing).arraySync();
      });
      expect(tf.memory().numTensors).toBe(before);
      await setupBackend('cpu');
      tf.tidy(() => {
        // the reference differentiates the definition, written with other ops (avgPool of c·e^{c/τ} and e^{c/τ})
        const tau = p.temperature ?? 1;
        const definition = (x: tf.Tensor) => {
          const e = tf.exp(tf.div(x, tau));
          const P = tf.div(tf.avgPool(tf.mul(x, e) as tf.Tensor4D, p.size, p.size, 'valid'), tf.avgPool(e as tf.Tensor4D, p.size, p.size, 'valid'));
          return tf.sum(tf.mul(P, tf.tensor(u)));
        };
        expect(relError(tf.tensor(got), tf.grad(definition)(tf.tensor(c))), `size ${p.size}, τ ${tau}`).toBeLessThan(1e-5);
      });
    }
    await setupBackend('wasm');
  });

  it('a conv coupling with softmax pooling between two free layers passes checkTerm (fields, gradients, EP difference, leaks)', async () => {
    await setupBackend('cpu'); // tf.grad of a kernel needs Conv2DBackpropFilter
    const rng = new Rng(5);
    const shape = [3, 3, 2, 4];
    const kernel = tf.variable(tf.tensor(rng.uniformArray(72, -0.5, 0.5), shape));
    const term = new ConvCoupling(1, 2, kernel, { inputShape: [6, 6, 2], pool: soft(2, 0.5) });
    expect(term.outputShape).toEqual([2, 2, 4]);
    const report = checkTerm(term, [[1], [6, 6, 2], [2, 2, 4]]);
    expect(report.ok, report.failures.map((f) => `${f.part}: ${f.detail}`).join('; ')).toBe(true);
    kernel.dispose();
    await setupBackend('wasm');
  });

  it('a bad temperature is a one-line ConfigError naming it', () => {
    for (const t of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => checkPooling(soft(2, t), 'K0_1')).toThrow(ConfigError);
      expect(() => checkPooling(soft(2, t), 'K0_1')).toThrow(`K0_1: softmax pooling temperature must be a positive number, got ${t}`);
    }
    expect(() => unpool(tf.zeros([1, 1, 1, 1]), soft(2))).toThrow(/unpooling a softmax-pool needs the routing of its input/);
  });
});
