// The WebGPU equivalence checks (equivalence.ts), each a test: WebGPU against wasm on the same
// weights and inputs, ≤ 1e-4 relative on every reading. Here the adapter is the SwiftShader driver
// bundled in @sparticuz/chromium (apps/cli/vitest.config.ts sets it up); on a GPU machine,
// scripts/device-check.sh runs the same checks through `eqprop gpu-check`.
import { describe, expect, it } from 'vitest';
import { equivalenceChecks, runCheck } from './equivalence.js';
import { probeWebgpu } from './probe.js';

const SUITE = 'WebGPU equivalence (Dawn in Node)';
const probe = await probeWebgpu(SUITE);
if (probe.ok) console.log(`WebGPU equivalence: ${probe.adapter}`);

describe.skipIf(!probe.ok)(SUITE, () => {
  for (const check of equivalenceChecks()) {
    it(check.name, async () => {
      const r = await runCheck(check);
      console.log(`${check.name}: worst relative error ${r.worst.toExponential(2)} (${r.seconds.toFixed(1)} s)`);
      expect(r.missing, 'readings one backend lacks').toEqual([]);
      expect(r.failures, `relative error above ${check.tol}`).toEqual([]);
    });
  }
});
