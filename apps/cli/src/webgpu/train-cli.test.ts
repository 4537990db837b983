// `eqprop train --backend webgpu|auto` through the built CLI: it trains on the software adapter
// (the header and summary.json name it) and the loss falls; `auto` never picks a software adapter
// and says why; without a Vulkan loader or driver, one line names which.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { recordSkip } from '../../../../scripts/test-skips.mjs';
import { probeWebgpu } from './probe.js';

const SUITE = 'eqprop train on WebGPU (Dawn in Node)';
const probe = await probeWebgpu(SUITE);
const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 240_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The environment without the software adapter: no Vulkan loader on the library path. */
function withoutVulkan(): NodeJS.ProcessEnv {
  const { LD_LIBRARY_PATH: _l, VK_ICD_FILENAMES: _v, ...rest } = process.env;
  return rest;
}

const SMALL = ['--preset', 'laborieux2021-mlp', '--layers', '784,64,10', '--train-limit', '200', '--test-limit', '100', '--batch-size', '20', '--quiet'];

describe.skipIf(!probe.ok)(SUITE, () => {
  it('trains laborieux2021-mlp on the software adapter: the header and summary.json name it, the loss falls', () => {
    expect(existsSync(cliPath)).toBe(true);
    const out = mkdtempSync(join(tmpdir(), 'eqprop-webgpu-run-'));
    const r = cli(['train', ...SMALL, '--backend', 'webgpu', '--epochs', '3', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend webgpu on google swiftshader \(.*SwiftShader driver.*\) \[software\]$/m);
    const run = join(out, readdirSync(out)[0]);
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
    expect(summary.backend).toBe('webgpu');
    expect(summary.adapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader', software: true });
    const epochs = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(epochs).toHaveLength(3);
    expect(epochs[2].trainLoss).toBeLessThan(epochs[0].trainLoss);
    expect(epochs[2].testError).toBeLessThan(0.9);
    // the checkpoint of a WebGPU run resumes on wasm: it holds the parameters' values
    expect(JSON.parse(readFileSync(join(run, 'checkpoint.json'), 'utf8')).epoch).toBe(3);
  });

  it('trains by BPTT on WebGPU (the baselines read asynchronously too)', () => {
    const out = mkdtempSync(join(tmpdir(), 'eqprop-webgpu-bptt-'));
    const args = ['--preset', 'ernoult2019-p1h', '--layers', '784,32,10', '--train-limit', '40', '--test-limit', '20', '--batch-size', '20', '--epochs', '1'];
    const r = cli(['train', ...args, '--quiet', '--backend', 'webgpu', '--algorithm', 'bptt', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend webgpu on google swiftshader/m);
    expect(r.stdout).toMatch(/gradients by BPTT/);
    expect(JSON.parse(readFileSync(join(out, readdirSync(out)[0], 'summary.json'), 'utf8')).epochs).toBe(1);
  });

  it('refuses in one line what reads synchronously or runs replicas: GDU, data-parallel workers', () => {
    const out = mkdtempSync(join(tmpdir(), 'eqprop-refused-'));
    const cases: [string[], RegExp][] = [
      [['gdu', '--preset', 'ernoult2019-p1h', '--backend', 'webgpu'], /^eqprop: error: eqprop gdu reads the backend synchronously, which webgpu cannot/],
      [
        ['train', ...SMALL, '--out', out, '--backend', 'webgpu', '--workers', '2'],
        /^eqprop: error: --workers 2: data-parallel replicas run on wasm; on webgpu the batch stays on the device \(--workers 1\)$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('eqprop: error:')),
      ).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
    }
  });

  it('--backend auto leaves a software adapter alone and says so', () => {
    const r = cli(['train', ...SMALL, '--backend', 'auto', '--max-batches', '1', '--out', mkdtempSync(join(tmpdir(), 'eqprop-auto-'))]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend wasm — auto: the only WebGPU adapter is a software renderer \(google swiftshader.*\); using wasm$/m);
  });
});

// the "no loader" cases need a machine whose system has no Vulkan loader (CI's has none)
const systemLoader = (spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '').includes('libvulkan.so.1');
const NO_VULKAN = 'eqprop train without WebGPU (no Vulkan loader)';
if (systemLoader) recordSkip({ suite: NO_VULKAN, reason: 'this system has a Vulkan loader (libvulkan.so.1)', command: 'run on a machine without libvulkan1' });

describe.skipIf(systemLoader)(NO_VULKAN, () => {
  it('--backend auto without a Vulkan loader picks wasm and says why', () => {
    const r = cli(['train', ...SMALL, '--backend', 'auto', '--max-batches', '1', '--out', mkdtempSync(join(tmpdir(), 'eqprop-auto-'))], withoutVulkan());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend wasm — auto: no WebGPU adapter: no Vulkan loader \(libvulkan\.so\.1 .*\); using wasm$/m);
  });

  it('--backend webgpu without a Vulkan loader is one line naming it', () => {
    const r = cli(['train', ...SMALL, '--backend', 'webgpu'], withoutVulkan());
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(
      /^eqprop: error: backend "webgpu": no WebGPU adapter: no Vulkan loader \(libvulkan\.so\.1 is not on the library path: install libvulkan1 or set LD_LIBRARY_PATH\)$/,
    );
  });

  it.skipIf(!probe.ok)('--backend webgpu with a loader but no driver names the driver setting', () => {
    const r = cli(['train', ...SMALL, '--backend', 'webgpu'], { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.code).not.toBe(0);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('eqprop: error:'));
    expect(errors).toEqual([
      'eqprop: error: backend "webgpu": no WebGPU adapter: the Vulkan loader found no usable driver in VK_ICD_FILENAMES=/nonexistent/icd.json',
    ]);
  });
});
