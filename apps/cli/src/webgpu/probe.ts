// Test support: whether WebGPU starts here; if not, the suite is recorded as skipped (pnpm test
// names it, CI fails on it).
import { describeBackend, setupBackend } from '@eqprop/core';
import { recordSkip } from '../../../../scripts/test-skips.mjs';

export async function probeWebgpu(suite: string): Promise<{ ok: true; adapter: string } | { ok: false; reason: string }> {
  try {
    await setupBackend('webgpu');
    return { ok: true, adapter: describeBackend() };
  } catch (e) {
    const reason = (e as Error).message;
    recordSkip({ suite, reason, command: 'eval "$(node scripts/webgpu-env.mjs)" && pnpm --filter eqprop test -- webgpu' });
    return { ok: false, reason };
  } finally {
    await setupBackend('wasm');
  }
}
