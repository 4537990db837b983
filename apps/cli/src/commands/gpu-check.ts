import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { backendInfo, ConfigError, describeBackend, setupBackend } from '@eqprop/core';
import { atomicWrite } from '@eqprop/experiments';
import { parseFlags } from '../args.js';
import { type CheckResult, equivalenceChecks, runCheck } from '../webgpu/equivalence.js';

export const GPU_CHECK_HELP = `eqprop gpu-check [--out FILE] [--only PATTERN]
  runs the WebGPU equivalence checks (the test suite's): every term, each solver's free and nudged
  relaxation, every estimator, one training batch of four presets, on WebGPU against wasm, and
  writes their worst relative errors as JSON (default: stdout only). Exit status 1 if any check
  exceeds its tolerance (1e-4). Needs a WebGPU adapter (scripts/device-check.sh on a GPU machine).`;

export async function gpuCheckCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, { out: { type: 'string' }, only: { type: 'string' } });
  await setupBackend('webgpu');
  const adapter = backendInfo().adapter;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`gpu-check: ${describeBackend()}`);
  const pattern = typeof flags.only === 'string' ? flags.only : undefined;
  const checks = equivalenceChecks().filter((c) => !pattern || c.name.includes(pattern));
  if (checks.length === 0) throw new ConfigError(`--only "${pattern}" matches no check`);
  await setupBackend('wasm');
  const results: CheckResult[] = [];
  for (const check of checks) {
    const r = await runCheck(check);
    results.push(r);
    const ok = r.failures.length === 0 && r.missing.length === 0;
    log(
      `${ok ? 'ok  ' : 'FAIL'} ${r.worst.toExponential(2)}  ${r.seconds.toFixed(1).padStart(6)} s  ${r.name}${ok ? '' : `: ${[...r.failures, ...r.missing].join('; ')}`}`,
    );
  }
  const failed = results.filter((r) => r.failures.length > 0 || r.missing.length > 0).length;
  if (typeof flags.out === 'string') {
    mkdirSync(dirname(flags.out), { recursive: true });
    atomicWrite(flags.out, `${JSON.stringify({ date: new Date().toISOString(), adapter, checks: results }, null, 2)}\n`);
  }
  log(`${results.length - failed}/${results.length} checks within tolerance`);
  if (failed > 0) process.exitCode = 1;
}
