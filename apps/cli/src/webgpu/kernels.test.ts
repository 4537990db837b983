// The WebGPU kernel fix of @eqprop/core (webgpu-kernels.ts): tfjs-webgpu 4.22's Cast of int32 or
// bool data to float32 relabels the i32 buffer instead of converting it, so max-pooling's routing
// mask (a one-hot of argMax, cast, then transposed) came out wrong on WebGPU. Checked against wasm.
import { Rng, tf } from '@eqprop/core';
import { maxPoolMask } from '@eqprop/energies';
import { describe, expect, it } from 'vitest';
import { onBackend, take } from './equivalence.js';
import { probeWebgpu } from './probe.js';

const SUITE = 'WebGPU kernel fixes (Dawn in Node)';
const probe = await probeWebgpu(SUITE);

describe.skipIf(!probe.ok)(SUITE, () => {
  it('routes max-pooling through the first maximum of each window as wasm does (int32 → float32 casts by value)', async () => {
    const values = new Rng(9).uniformArray(2 * 8 * 8 * 4, -1, 1);
    const mask = () => {
      const c = tf.tensor4d(values, [2, 8, 8, 4]);
      const m = maxPoolMask(c, 2);
      c.dispose();
      return take(m);
    };
    const [onWasm, onWebgpu] = [await onBackend('wasm', mask), await onBackend('webgpu', mask)];
    expect(onWasm.reduce((a, b) => a + b, 0)).toBe(2 * 4 * 4 * 4); // one 1 per 2×2 window
    expect(Array.from(onWebgpu)).toEqual(Array.from(onWasm));
  });
});
