import { readFileSync } from 'node:fs';
import { Rng, tf } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { gradientCheck } from './gradient-check.js';

/** Given weights, as a user would paste them: seeded uniform values in ±0.8 (biases too). */
function weights(seed: number): Record<string, number[]> {
  const rng = new Rng(seed);
  const u = (n: number) => Array.from(rng.uniformArray(n, -0.8, 0.8));
  return { W0_1: u(12), b1: u(4), W1_2: u(8), b2: u(2) };
}

describe('example: the EP gradient of a tiny network against the true gradient', () => {
  it('is at most 25 lines of user code', () => {
    const text = readFileSync(new URL('./gradient-check.ts', import.meta.url), 'utf8');
    const code = text.split('// --- user code begins')[1].split('// --- user code ends')[0];
    const lines = code.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('//') && !l.trim().startsWith('/**'));
    expect(lines.length).toBeLessThanOrEqual(25);
  });

  it('agrees with recurrent backprop at given weights (cosine > 0.9999, relative error < 1e-3) and leaves no tensor', async () => {
    for (const seed of [1, 2]) {
      await gradientCheck(weights(seed)); // the backend is set up by the first call
      const before = tf.memory().numTensors;
      const r = await gradientCheck(weights(seed));
      expect(r.converged).toBe(true);
      expect(r.cosine).toBeGreaterThan(0.9999);
      expect(r.relError).toBeLessThan(1e-3);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('the check has teeth: at a large β (bias O(β²)) the same comparison reports a 10× larger error', async () => {
    const small = await gradientCheck(weights(1), 0.01);
    const large = await gradientCheck(weights(1), 1);
    console.log(`β = 0.01: cosine ${small.cosine}, relative error ${small.relError}; β = 1: ${large.cosine}, ${large.relError}`);
    expect(large.relError).toBeGreaterThan(10 * small.relError);
  });
});
