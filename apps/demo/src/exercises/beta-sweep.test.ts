import { type Batch, Rng, runSync, setupBackend, tf } from '@eqprop/core';
import { makeSolver } from '@eqprop/learning';
import { layeredMlp } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { betaSweepReads, logSlope, type SweepResult } from './beta-sweep.js';

// The sweep's numbers on a small network (the demo's small preset, narrowed), random inputs:
// the orders of the biases are what EP's theory says, measured against recurrent backprop.
describe('betaSweepReads', () => {
  let result: SweepResult;
  let leaked = 0;

  beforeAll(async () => {
    await setupBackend('wasm');
    const rng = new Rng(3);
    const net = layeredMlp({ kind: 'mlp', sizes: [30, 24, 6], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' }, rng);
    const batches: Batch[] = [0, 1, 2].map(() => {
      const labels = Int32Array.from({ length: 10 }, () => rng.int(6));
      return {
        x: tf.tensor2d(rng.uniformArray(10 * 30, 0, 1), [10, 30]),
        y: tf.oneHot(tf.tensor1d(labels, 'int32'), 6).toFloat() as tf.Tensor2D,
        labels,
        indices: Int32Array.from({ length: 10 }, (_, i) => i),
      };
    });
    const before = tf.memory().numTensors;
    result = runSync(
      betaSweepReads(net, batches, {
        solver: makeSolver({ kind: 'fixed-point', schedule: 'synchronous' }),
        betas: [1e-3, 1e-2, 3e-2, 0.1, 0.3, 1],
        freeSteps: 300,
        tol: 1e-7,
        nudgedSteps: 100,
      }),
    );
    leaked = tf.memory().numTensors - before;
  });

  it('holds one row per β with a mean and a spread over the batches', () => {
    expect(result.rows.map((r) => r.beta)).toEqual([1e-3, 1e-2, 3e-2, 0.1, 0.3, 1]);
    expect(result.batches).toBe(3);
    for (const r of result.rows) for (const s of [r.oneSided, r.symmetric, r.randomSignBias, r.randomSignStd]) expect(s.n).toBe(3);
    expect(result.freeResidual).toBeLessThan(1e-6);
    expect(leaked).toBe(0);
  });

  it('finds the one-sided bias O(β) and the symmetric bias O(β²)', () => {
    const one = logSlope(result.rows, (r) => r.oneSided, 1e-3, 0.1);
    const sym = logSlope(result.rows, (r) => r.symmetric, 1e-2, 0.3);
    console.log(`β sweep test: one-sided slope ${one.toFixed(2)}, symmetric slope ${sym.toFixed(2)}, noise n ${result.noise.mean.toExponential(2)}`);
    expect(one).toBeGreaterThan(0.8);
    expect(one).toBeLessThan(1.2);
    expect(sym).toBeGreaterThan(1.7);
    expect(sym).toBeLessThan(2.3);
  });

  it('gives the random-sign estimate the symmetric bias on average and a spread of the one-sided size', () => {
    for (const r of result.rows.filter((r) => r.beta >= 1e-3 && r.beta <= 3e-2)) {
      // E over the sign of one-sided(±β) is the symmetric estimate (exactly, up to rounding)
      expect(Math.abs(r.randomSignBias.mean - r.symmetric.mean)).toBeLessThan(0.05 * r.symmetric.mean + 1e-4);
      // its spread is the O(β) term that the symmetric estimate cancels: about the one-sided bias
      expect(r.randomSignStd.mean / r.oneSided.mean).toBeGreaterThan(0.7);
      expect(r.randomSignStd.mean / r.oneSided.mean).toBeLessThan(1.3);
    }
  });
});
