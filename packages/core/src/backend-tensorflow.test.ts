// The `tensorflow` backend (tfjs-node) where the user installed it: it cannot be installed on our
// machines (its install downloads libtensorflow), so elsewhere this suite is listed as an optional
// skip by `pnpm test`. Where it runs, the backend must give a matmul and a conv equal to wasm's.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { recordSkip } from '../../../scripts/test-skips.mjs';
import { setupBackend, tf } from './index.js';

const SUITE = 'tensorflow backend (tfjs-node)';
let installed = true;
try {
  createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
} catch {
  installed = false;
  recordSkip({
    suite: SUITE,
    reason: '@tensorflow/tfjs-node is not installed (its install downloads libtensorflow)',
    command: 'pnpm --filter @eqprop/core add -D @tensorflow/tfjs-node@4.22.0 && pnpm --filter @eqprop/core test',
    optional: true,
  });
}

describe.skipIf(!installed)(SUITE, () => {
  it('gives the matmul and the convolution of wasm', async () => {
    const run = async (name: string) => {
      await setupBackend(name);
      const x = tf.tensor4d(
        Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.sin(i)),
        [2, 6, 6, 3],
      );
      const k = tf.tensor4d(
        Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i)),
        [3, 3, 3, 4],
      );
      const out = Float32Array.from(await tf.conv2d(x, k, 1, 'same').data());
      const mm = Float32Array.from(await tf.matMul(x.reshape([12, 18]), x.reshape([18, 12])).data());
      tf.dispose([x, k]);
      return [...out, ...mm];
    };
    const wasm = await run('wasm');
    const native = await run('tensorflow');
    for (let i = 0; i < wasm.length; i++) expect(native[i]).toBeCloseTo(wasm[i], 4);
  });
});
