// The checkpoint loader against corrupted checkpoint.json and particle files: every input either
// loads or gives a one-line DataFormatError — never another error, a hang or a huge allocation.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, setupBackend, Rng, DataFormatError } from '@eqprop/core';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { Trainer, type TrainerConfig } from '@eqprop/learning';
import { batches, synthetic } from '@eqprop/datasets';
import { RunDir } from './run-dir.js';
import { Checkpointer, crc32, decodeParticles, encodeCheckpoint, loadCheckpoint, runDirReader, type Checkpoint, type CheckpointTarget } from './checkpoint.js';

const CASES = 1000;
const data = synthetic({ count: 30, inputSize: 8, numClasses: 3, seed: 1 });
const model: ModelConfig = { kind: 'mlp', sizes: [8, 6, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' };
const config: TrainerConfig = {
  solver: { kind: 'gradient-descent', stepSize: 0.5 },
  freeSteps: 5,
  nudgedSteps: 2,
  estimator: 'random-sign',
  beta: 0.5,
  optimizer: { kind: 'adam', lrs: [0.01] },
  persistent: true,
  persistentEval: true,
};
const testData = synthetic({ count: 12, inputSize: 8, numClasses: 3, seed: 2 });
const newTrainer = (m = model) => new Trainer(buildModel(m, new Rng(1)), config, { seed: 2, trainCount: data.count, testCount: testData.count });

let target: CheckpointTarget;
let files: Record<string, Uint8Array>;
let good: Checkpoint;

beforeAll(async () => {
  await setupBackend('wasm');
  const trainer = newTrainer();
  for (const b of batches(data, 10, { rng: new Rng(3), flatten: true })) {
    trainer.trainBatch(b);
    b.x.dispose();
    b.y.dispose();
  }
  trainer.evaluate(batches(testData, 5, { shuffle: false, flatten: true }), trainer.evalParticles);
  const dir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-ck-')));
  new Checkpointer(dir, trainer).save(1, 2, { errors: 3, loss: 1.25, count: 20, steps: 10, exampleSteps: 180, batches: 2, seconds: 0.5 }, [
    { epoch: 1, trainError: 0.5, trainLoss: 0.7, testError: 0.4, testLoss: 0.6, seconds: 1, meanFreeSteps: 5, freeStepsPerExample: 5 },
  ]);
  const read = runDirReader(dir);
  // plain copies: a Buffer's slice() is a view, and the fuzzers must not damage the originals
  files = Object.fromEntries(['checkpoint.json', 'particles-1.bin', 'test-particles-1.bin'].map((f) => [f, Uint8Array.from(read(f, 1e9)!)]));
  good = JSON.parse(new TextDecoder().decode(files['checkpoint.json']));
  target = { trainer: newTrainer(), epochs: 3, batchesPerEpoch: 3 };
});

const reader = (f: Record<string, Uint8Array>) => (name: string, maxBytes: number) => {
  const b = f[name];
  if (b && b.byteLength > maxBytes) throw new DataFormatError(`${name} is too large`);
  return b;
};

/** Loads, expecting success or a DataFormatError; returns whether it loaded. */
function attempt(f: Record<string, Uint8Array>, t = target): boolean {
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  try {
    loadCheckpoint(reader(f), t);
    return true;
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw new Error(`not a DataFormatError: ${(e as Error).name}: ${(e as Error).message}`);
    expect((e as Error).message).not.toContain('\n');
    return false;
  } finally {
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(tf.memory().numTensors).toBe(before); // nothing leaked or half-made
  }
}

/** Byte-level damage: truncation, bit flips, overwritten or appended bytes, garbage. */
function damage(b: Uint8Array, rng: Rng, headerBytes = 64): Uint8Array {
  const kind = rng.int(5);
  let out = b.slice();
  if (kind === 0) out = out.subarray(0, rng.int(out.length));
  else if (kind === 1) for (let k = 1 + rng.int(8); k > 0; k--) out[rng.int(out.length)] ^= 1 << rng.int(8);
  else if (kind === 2) for (let k = 1 + rng.int(4); k > 0; k--) out[rng.int(Math.min(headerBytes, out.length))] = rng.int(256);
  else if (kind === 3) out = Uint8Array.from([...out, ...Array.from({ length: 1 + rng.int(64) }, () => rng.int(256))]);
  else out = Uint8Array.from({ length: rng.int(2 * b.length) }, () => rng.int(256));
  return out;
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, j) => v === b[j]);

/** Every path to a value in a JSON tree. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return [prefix];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return [prefix, ...keys.flatMap((k) => paths((v as Record<string | number, unknown>)[k], [...prefix, k]))];
}

const WRONG: unknown[] = [null, -1, 1.5, 2 ** 53, 1e308, 'x', '', true, [], {}, [1e9, 1e9], { shape: [1e6, 1e6], dtype: 'float32', data: 'AAAA' }, 'A'.repeat(5000), '='.repeat(100000)];

/** A structural change (a field removed or given a wrong value), re-sealed with a valid CRC-32 so the checks behind it are reached. */
function mutate(rng: Rng): Uint8Array {
  const ck = structuredClone(good) as unknown as Record<string, unknown>;
  delete ck.checksum;
  const all = paths(ck).filter((p) => p.length > 0);
  const path = all[rng.int(all.length)];
  let parent = ck as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path[path.length - 1];
  const old = parent[key];
  if (rng.next() < 0.25) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (typeof old === 'string' && rng.next() < 0.5) {
    // base64 data: cut, extended, or a bad character
    const i = rng.int(old.length + 1);
    parent[key] = [old.slice(0, i), old + 'AAAA', old.slice(0, i) + '*' + old.slice(i + 1)][rng.int(3)];
  } else {
    parent[key] = WRONG[rng.int(WRONG.length)];
  }
  return new TextEncoder().encode(encodeCheckpoint(ck as unknown as Checkpoint));
}

describe('checkpoint loader', () => {
  it('loads its own checkpoint exactly', () => {
    expect(attempt(files)).toBe(true);
    const p = target.trainer.net.params;
    expect(Array.from(p.W0_1.dataSync()).every(Number.isFinite)).toBe(true);
    expect(target.trainer.rng.getState()).toEqual(good.rng);
    // the test particles of the evaluation before the save, bit for bit
    const saved = decodeParticles(files['test-particles-1.bin'], [6, 3], testData.count);
    expect(saved[0].some((v) => v !== 0)).toBe(true);
    saved.forEach((a, l) => expect(Array.from(target.trainer.evalParticles!.layers[l])).toEqual(Array.from(a)));
  });

  it(`rejects ${CASES} byte-level corruptions of checkpoint.json (CRC-32, JSON, structure)`, () => {
    const rng = new Rng(11);
    let rejected = 0;
    let tried = 0;
    for (let i = 0; i < CASES; i++) {
      const bad = damage(files['checkpoint.json'], rng);
      if (same(bad, files['checkpoint.json'])) continue;
      tried++;
      if (!attempt({ ...files, 'checkpoint.json': bad })) rejected++;
    }
    // what loads had only its whitespace changed (JSON allows a space, a tab or a newline there)
    expect(rejected).toBeGreaterThan(tried * 0.98);
  });

  it(`survives ${CASES} structural changes with a valid CRC (fields missing, wrong types, shapes, sizes)`, () => {
    const rng = new Rng(12);
    let rejected = 0;
    for (let i = 0; i < CASES; i++) if (!attempt({ ...files, 'checkpoint.json': mutate(rng) })) rejected++;
    // a few changes are harmless (an extra history field, a slot value replaced by a valid one)
    expect(rejected).toBeGreaterThan(CASES * 0.9);
  });

  for (const file of ['particles-1.bin', 'test-particles-1.bin']) {
    it(`rejects ${CASES} corruptions of ${file}, and its absence`, () => {
      const rng = new Rng(13);
      for (let i = 0; i < CASES; i++) {
        const bad = damage(files[file], rng, 28);
        if (!same(bad, files[file])) expect(attempt({ ...files, [file]: bad })).toBe(false);
      }
      const { [file]: _, ...without } = files;
      expect(() => loadCheckpoint(reader(without), target)).toThrow(`${file} is missing from the run folder`);
    });
  }

  it(`decodes ${CASES} particle files with damaged headers only when they match the run`, () => {
    const rng = new Rng(14);
    const sizes = [6, 3];
    for (let i = 0; i < CASES; i++) {
      const bad = damage(files['particles-1.bin'], rng, 28);
      try {
        const layers = decodeParticles(bad, sizes, data.count);
        expect(layers.map((a) => a.length)).toEqual([6 * data.count, 3 * data.count]);
      } catch (e) {
        expect(e).toBeInstanceOf(DataFormatError);
      }
    }
  });

  it('refuses a checkpoint of another architecture, and oversized files before reading them', () => {
    const other = { trainer: newTrainer({ ...model, sizes: [8, 7, 3] }), epochs: 3, batchesPerEpoch: 3 };
    expect(() => loadCheckpoint(reader(files), other)).toThrow(/W0_1.*expected \[8,7\]|particles of \d+ bytes/);
    const dir = mkdtempSync(join(tmpdir(), 'eqprop-ck-'));
    writeFileSync(join(dir, 'checkpoint.json'), files['checkpoint.json']);
    expect(() => runDirReader(new RunDir(dir))('checkpoint.json', 100)).toThrow(/more than the 100/);
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926); // the standard check value
  });
});
