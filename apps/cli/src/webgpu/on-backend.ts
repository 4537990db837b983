// Test support: run the same computation on two backends in one process and compare what it read.
import { setupBackend, tf, type BackendName } from '@eqprop/core';
import { recordSkip } from '../../../../scripts/test-skips.mjs';

/** Whether WebGPU starts here, and if not why (then the suite is recorded as skipped). */
export async function probeWebgpu(suite: string): Promise<{ ok: true; adapter: string } | { ok: false; reason: string }> {
  try {
    await setupBackend('webgpu');
    const { describeBackend } = await import('@eqprop/core');
    return { ok: true, adapter: describeBackend() };
  } catch (e) {
    const reason = (e as Error).message;
    recordSkip({ suite, reason, command: 'eval "$(node scripts/webgpu-env.mjs)" && pnpm --filter eqprop test -- webgpu' });
    return { ok: false, reason };
  } finally {
    await setupBackend('wasm');
  }
}

/** Runs `fn` with `name` as the active backend, then returns to wasm; no tensor may outlive it. */
export async function onBackend<T>(name: BackendName, fn: () => Promise<T>): Promise<T> {
  await setupBackend(name);
  const before = tf.memory().numTensors;
  try {
    const out = await fn();
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) throw new Error(`${leaked} tensors left on ${name}`);
    return out;
  } finally {
    await setupBackend('wasm');
  }
}

/** A tensor's values (asynchronously: WebGPU in Node has no synchronous read), then disposes it. */
export async function take(t: tf.Tensor): Promise<Float32Array> {
  const v = Float32Array.from((await t.data()) as Float32Array);
  t.dispose();
  return v;
}

/** ‖a − b‖ / max(‖b‖, floor): the relative error of `a` against the reference `b`. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} against ${b.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), floor);
}
