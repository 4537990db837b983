import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@eqprop/core';
import { getPreset } from '@eqprop/experiments';
import { beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const RECORD = 1 + 32 * 32 * 3;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A CIFAR-10 folder in the binary format: five training batches and a test batch of `n` random records each. */
function writeCifar(dir: string, n: number, rng: Rng): void {
  const files = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin');
  for (const f of files) {
    const buf = new Uint8Array(n * RECORD);
    for (let r = 0; r < n; r++) {
      buf[r * RECORD] = rng.int(10);
      for (let p = 1; p < RECORD; p++) buf[r * RECORD + p] = rng.int(256);
    }
    writeFileSync(join(dir, f), buf);
  }
}

// The full preset (128-256-512-512 convnet, clip(x/2,0,1), symmetric β 1, CE readout, momentum with
// weight decay, cosine schedule, random crops and flips) through the built CLI on a few batches.
// A smoke run: 20 free and 5 nudged steps instead of 250 and 25, so that it takes seconds on one
// core (an example-step of this network is about 0.6 GFLOP).
describe('laborieux2021-cifar10 end to end', () => {
  let data: string;
  beforeAll(() => {
    expect(existsSync(cliPath)).toBe(true);
    data = mkdtempSync(join(tmpdir(), 'eqprop-cifar-'));
    writeCifar(data, 4, new Rng(3));
  });

  it('trains on a few batches, evaluates, and checkpoints', () => {
    const out = mkdtempSync(join(tmpdir(), 'eqprop-cifar-run-'));
    const args = ['--preset', 'laborieux2021-cifar10', '--data-dir', data, '--batch-size', '4', '--max-batches', '3'];
    const r = cli(['train', ...args, '--free-steps', '20', '--nudged-steps', '5', '--test-limit', '4', '--workers', '1', '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/20 train \/ 4 test examples, batch 4/);
    const run = join(out, readdirSync(out)[0]);
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    // the preset's optimizer and augmentation reach the run (their values are checked against the paper in papers.test.ts)
    const preset = getPreset('laborieux2021-cifar10');
    expect(config.trainer.optimizer).toEqual(preset.trainer.optimizer);
    expect(config.data).toEqual({ ...preset.data, dataDir: data, testLimit: 4 });
    const [m] = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(m.epoch).toBe(1);
    expect(Number.isFinite(m.trainLoss) && Number.isFinite(m.testLoss)).toBe(true);
    expect(m.testError).toBeGreaterThanOrEqual(0);
    expect(m.testError).toBeLessThanOrEqual(1);
    expect(existsSync(join(run, 'checkpoint.json'))).toBe(true);
  }, 180_000);

  it('a batch file of the wrong length is a one-line error naming it', () => {
    const bad = mkdtempSync(join(tmpdir(), 'eqprop-cifar-bad-'));
    writeCifar(bad, 2, new Rng(4));
    const f = join(bad, 'data_batch_3.bin');
    writeFileSync(f, readFileSync(f).subarray(0, 2 * RECORD - 5));
    const r = cli(['train', '--preset', 'laborieux2021-cifar10', '--data-dir', bad, '--max-batches', '1', '--quiet']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/data_batch_3\.bin: 6141 bytes, expected a positive multiple of 3073/);
  });
});
