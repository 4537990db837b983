// `eqprop train` killed with SIGKILL at random moments and resumed each time must end exactly
// (bitwise) where an uninterrupted run with the same seed ends. Drives the built CLI.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const TINY = [
  'train',
  '--preset',
  'scellier2017-1h',
  '--layers',
  '784,100,10',
  '--free-steps',
  '60',
  '--test-limit',
  '100',
  '--validation',
  '60',
  '--batch-size',
  '20',
  '--seed',
  '3',
  '--checkpoint-every-batches',
  '1',
  '--quiet',
];

interface Outcome {
  code: number | null;
  killed: boolean;
  stderr: string;
}

/** Runs the CLI; `killAt(poll)` is asked every 2 ms whether to SIGKILL it now. */
function run(args: string[], killAt?: () => boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    p.stderr.on('data', (d) => (stderr += d));
    const timer = killAt
      ? setInterval(() => {
          if (!killed && killAt()) {
            killed = p.kill('SIGKILL');
          }
        }, 2)
      : undefined;
    p.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, killed, stderr });
    });
  });
}

/** Changes whenever checkpoint.json is replaced (new inode or new mtime). */
function stamp(dir: string | undefined): string {
  if (!dir) return '';
  try {
    const s = statSync(join(dir, 'checkpoint.json'), { bigint: true });
    return `${s.ino}:${s.mtimeNs}`;
  } catch {
    return '';
  }
}

function runFolder(out: string): string | undefined {
  const names = existsSync(out) ? readdirSync(out) : [];
  return names.length ? join(out, names[0]) : undefined;
}

/**
 * Trains to the end, killing the process at seeded random moments: mostly 0–30 ms after the
 * attempt's first new checkpoint (inside a batch, a checkpoint write, the evaluation), sometimes
 * at a random time after start (start-up, data loading), until `minKills` + 2 kills.
 */
async function trainWithKills(args: string[], out: string, opts: { seed: number; minKills: number }) {
  const rng = new Rng(opts.seed);
  let kills = 0;
  for (let attempt = 0; attempt < 200; attempt++) {
    let dir = runFolder(out);
    if (dir && !existsSync(join(dir, 'config.json'))) {
      rmSync(dir, { recursive: true }); // killed between making the folder and writing its config
      dir = undefined;
    }
    const t0 = Date.now();
    let killAt: (() => boolean) | undefined;
    if (kills >= opts.minKills + 2) {
      killAt = undefined; // enough: let it finish
    } else if (rng.next() < 0.1) {
      const ms = rng.int(1500);
      killAt = () => Date.now() - t0 >= ms;
    } else {
      // after the first new checkpoint of this attempt, kill within 0–30 ms: every kill lands
      // at a random moment (mid-batch, mid-write, evaluation) and every attempt makes progress
      const seen = stamp(dir);
      let due = Infinity;
      const extra = rng.int(30);
      killAt = () => {
        dir ??= runFolder(out);
        const now = stamp(dir);
        if (due === Infinity && now && now !== seen) due = Date.now() + extra;
        return Date.now() >= due;
      };
    }
    const r = await run(dir ? ['train', '--resume', dir, '--quiet'] : [...args, '--out', out], killAt);
    if (r.killed) {
      kills++;
      continue;
    }
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    console.log(`resume test: ${kills} kills`);
    return { dir: runFolder(out)!, kills };
  }
  throw new Error('the run did not finish in 200 attempts');
}

function finalState(dir: string) {
  const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
  return {
    position: [ck.epoch, ck.batch],
    params: ck.params,
    optimizer: ck.optimizer,
    rng: ck.rng,
    history: ck.history.map((m: Record<string, number>) => [
      m.trainError,
      m.trainLoss,
      m.testError,
      m.testLoss,
      m.testErrorFromZero,
      m.validError,
      m.validLoss,
      m.meanFreeSteps,
    ]),
    particles: readFileSync(join(dir, ck.particles.file)).toString('base64'),
    // the preset evaluates from persistent test particles: they too must come through every kill
    testParticles: readFileSync(join(dir, ck.testParticles.file)).toString('base64'),
    // and so must the validation particles and the best epoch's parameters
    validParticles: readFileSync(join(dir, ck.validParticles.file)).toString('base64'),
    best: readFileSync(join(dir, 'best-params.json'), 'utf8'),
    metricsLines: readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').length,
  };
}

describe('eqprop train --resume after SIGKILL', () => {
  beforeAll(() => expect(existsSync(cliPath)).toBe(true));

  // 400 examples / batch 20 × 3 epochs: 60 batch checkpoints + 3 at epoch ends
  const cases = [
    { workers: 1, trainLimit: 400, epochs: 3, minKills: 10, seed: 11 },
    { workers: 2, trainLimit: 200, epochs: 2, minKills: 3, seed: 12 },
  ];
  for (const c of cases) {
    it(`ends bitwise identical to an uninterrupted run (workers ${c.workers}, ≥ ${c.minKills} kills)`, { timeout: 240_000 }, async () => {
      const root = mkdtempSync(join(tmpdir(), 'eqprop-resume-'));
      const args = [...TINY, '--workers', String(c.workers), '--train-limit', String(c.trainLimit), '--epochs', String(c.epochs)];
      const ref = await run([...args, '--out', join(root, 'ref')]);
      expect(ref.code).toBe(0);
      const opts = { seed: c.seed, minKills: c.minKills };
      const { dir, kills } = await trainWithKills(args, join(root, 'killed'), opts);
      expect(kills).toBeGreaterThanOrEqual(c.minKills);
      const a = finalState(runFolder(join(root, 'ref'))!);
      const b = finalState(dir);
      expect(b.position).toEqual([c.epochs, 0]);
      // base64 of the float32 bits: equal strings are equal bits
      expect(b.params).toEqual(a.params);
      expect(b.optimizer).toEqual(a.optimizer);
      expect(b.rng).toEqual(a.rng);
      expect(b.particles === a.particles).toBe(true);
      expect(b.testParticles === a.testParticles).toBe(true);
      expect(b.validParticles === a.validParticles).toBe(true);
      expect(b.best === a.best).toBe(true);
      expect(b.history.every((m: unknown[]) => typeof m[5] === 'number')).toBe(true);
      expect(b.history).toEqual(a.history);
      expect(b.metricsLines).toBe(c.epochs);
      rmSync(root, { recursive: true, force: true });
    });
  }
});
