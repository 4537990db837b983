// The checkpoint loader against corrupted checkpoint.json and particle files: every corrupted input
// gives a one-line DataFormatError — never another error, a hang, a huge allocation or a load of
// other values; what loads holds, bit for bit, what was saved.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, synthetic } from '@eqprop/datasets';
import { Trainer, type TrainerConfig } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  Checkpointer,
  type CheckpointTarget,
  crc32,
  decodeParticles,
  encodeCheckpoint,
  loadCheckpoint,
  type PartialEpoch,
  runDirReader,
} from './checkpoint.js';
import { RunDir } from './run-dir.js';
import type { EpochMetrics } from './training-run.js';

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
let good: Checkpoint & { sha256?: string };

/** The trainer's whole state, copied: parameter bytes, optimizer state (base64 of the raw bytes), RNG, particles. */
function snapshot(trainer: Trainer) {
  const bytes = (a: ArrayBufferView) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return {
    params: Object.fromEntries(Object.entries(trainer.net.params).map(([k, v]) => [k, bytes(v.dataSync())])),
    optimizer: trainer.optimizer.getState(),
    rng: trainer.rng.getState(),
    particles: trainer.particles!.layers.map(bytes),
    testParticles: trainer.evalParticles!.layers.map(bytes),
  };
}
/** What the trainer held when it was saved. */
let saved: ReturnType<typeof snapshot>;
const position = { epoch: 1, batch: 2 };
const partial: PartialEpoch = { errors: 3, loss: 1.25, count: 20, steps: 10, exampleSteps: 180, batches: 2, seconds: 0.5 };
const history: EpochMetrics[] = [
  { epoch: 1, trainError: 0.5, trainLoss: 0.7, testError: 0.4, testLoss: 0.6, seconds: 1, meanFreeSteps: 5, freeStepsPerExample: 5 },
];

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
  saved = snapshot(trainer);
  await new Checkpointer(dir, trainer).save(position.epoch, position.batch, partial, history);
  const read = runDirReader(dir);
  // plain copies: a Buffer's slice() is a view, and the fuzzers must not damage the originals
  files = Object.fromEntries(['checkpoint.json', 'particles-1.bin', 'test-particles-1.bin'].map((f) => [f, Uint8Array.from(read(f, 1e9)!)]));
  good = JSON.parse(new TextDecoder().decode(files['checkpoint.json']));
  target = { trainer: newTrainer(), epochs: 3, batchesPerEpoch: 3 };
});

/** The target trainer holds exactly the saved state (every parameter and optimizer value bit for bit). */
function expectSavedState(trainer = target.trainer): void {
  const now = snapshot(trainer);
  for (const [name, b] of Object.entries(saved.params)) expect(now.params[name], `parameter ${name}`).toEqual(b);
  expect(now.optimizer).toEqual(saved.optimizer);
  expect(now.rng).toEqual(saved.rng);
  expect(now.particles).toEqual(saved.particles);
  expect(now.testParticles).toEqual(saved.testParticles);
}

/** Parsed JSON, or undefined when the bytes are not UTF-8 JSON. */
function parse(b: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
  } catch {
    return undefined;
  }
}

/** Whether damaged bytes still say exactly what the good file says (whitespace changed, 'e' → 'E' in a number, …). */
const sameMeaning = (b: Uint8Array) => JSON.stringify(parse(b)) === JSON.stringify(good);

const reader = (f: Record<string, Uint8Array>) => (name: string, maxBytes: number) => {
  const b = f[name];
  if (b && b.byteLength > maxBytes) throw new DataFormatError(`${name} is too large`);
  return b;
};

/** Loads, expecting success or a DataFormatError; returns the loaded checkpoint, or undefined when refused. */
function attempt(f: Record<string, Uint8Array>, t = target): Checkpoint | undefined {
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  try {
    return loadCheckpoint(reader(f), t);
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw new Error(`not a DataFormatError: ${(e as Error).name}: ${(e as Error).message}`);
    expect((e as Error).message).not.toContain('\n');
    return undefined;
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

const WHITESPACE = [0x20, 0x09, 0x0a, 0x0d];

/** Changes JSON ignores: whitespace between tokens replaced, added or removed (the file has none inside strings). */
function reformat(b: Uint8Array, rng: Rng): Uint8Array {
  const out = Array.from(b);
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const spaces = out.flatMap((c, i) => (WHITESPACE.includes(c) ? [i] : []));
    const i = spaces[rng.int(spaces.length)];
    const kind = rng.int(3);
    if (kind === 0) out[i] = WHITESPACE[rng.int(4)];
    else if (kind === 1) out.splice(i, 0, ...Array.from({ length: 1 + rng.int(3) }, () => WHITESPACE[rng.int(4)]));
    else out.splice(i, 1);
  }
  return Uint8Array.from(out);
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, j) => v === b[j]);

/** Every path to a value in a JSON tree. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return [prefix];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return [prefix, ...keys.flatMap((k) => paths((v as Record<string | number, unknown>)[k], [...prefix, k]))];
}

const WRONG: unknown[] = [
  null,
  -1,
  1.5,
  2 ** 53,
  1e308,
  'x',
  '',
  true,
  [],
  {},
  [1e9, 1e9],
  { shape: [1e6, 1e6], dtype: 'float32', data: 'AAAA' },
  'A'.repeat(5000),
  '='.repeat(100000),
];

/**
 * A structural change (a field removed or given a wrong value), re-sealed with a valid digest so the
 * checks behind it are reached (a writer's bug or a hand edit, not corruption); returns the file,
 * the changed path and the changed content.
 */
function mutate(rng: Rng): { bytes: Uint8Array; path: (string | number)[]; ck: Record<string, unknown> } {
  const ck = structuredClone(good) as unknown as Record<string, unknown>;
  delete ck.sha256;
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
    parent[key] = [old.slice(0, i), `${old}AAAA`, `${old.slice(0, i)}*${old.slice(i + 1)}`][rng.int(3)];
  } else {
    parent[key] = WRONG[rng.int(WRONG.length)];
  }
  return { bytes: new TextEncoder().encode(encodeCheckpoint(ck as unknown as Checkpoint)), path, ck };
}

/** The good checkpoint in the format of version 2: sealed by a CRC-32 of the compact JSON instead of a digest. */
function encodeVersion2(ck: Record<string, unknown>): Uint8Array {
  const { sha256: _, ...rest } = ck;
  const body = { ...rest, version: 2 };
  const checksum = crc32(new TextEncoder().encode(JSON.stringify(body)));
  return new TextEncoder().encode(`${JSON.stringify({ ...body, checksum }, null, 1)}\n`);
}

describe('checkpoint loader', () => {
  it('loads its own checkpoint exactly', () => {
    const fresh = newTrainer();
    const before = snapshot(fresh);
    // a fresh trainer differs from the saved one everywhere, so equality below means "loaded"
    for (const [name, b] of Object.entries(saved.params)) expect(before.params[name], name).not.toEqual(b);
    expect(before.optimizer.t).toBe(0);
    expect(saved.optimizer.t).toBe(3);
    expect(Object.keys(saved.optimizer.slots)).toEqual(Object.keys(saved.params));
    expect(before.optimizer.slots).not.toEqual(saved.optimizer.slots);
    expect(before.rng).not.toEqual(saved.rng);
    expect(saved.particles[0].some((v) => v !== 0) && saved.testParticles[0].some((v) => v !== 0)).toBe(true);
    const ck = attempt(files, { ...target, trainer: fresh });
    expect(ck).toMatchObject({ version: 3, seq: 1, ...position, partial, history });
    expectSavedState(fresh);
    // the particle file holds what the trainer held
    decodeParticles(files['test-particles-1.bin'], [6, 3], testData.count).forEach((a, l) =>
      expect(Array.from(new Uint8Array(a.buffer))).toEqual(saved.testParticles[l]),
    );
  });

  it('seals checkpoint.json with the SHA-256 of its canonical payload; a mismatch names the file', () => {
    const text = new TextDecoder().decode(files['checkpoint.json']);
    expect(text.trimEnd().split('\n').at(-2)).toMatch(/^ "sha256": "[0-9a-f]{64}"$/);
    // one base64 character of a weight changed: still valid JSON of the right shape, refused by the digest
    const i = text.indexOf('"data": "', text.indexOf('"W0_1"')) + 20;
    const edited = text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
    const dir2 = mkdtempSync(join(tmpdir(), 'eqprop-ck-'));
    for (const [f, b] of Object.entries(files)) writeFileSync(join(dir2, f), b);
    writeFileSync(join(dir2, 'checkpoint.json'), edited);
    expect(() => loadCheckpoint(runDirReader(new RunDir(dir2)), target)).toThrow(
      new DataFormatError(`${join(dir2, 'checkpoint.json')}: the SHA-256 digest does not match the content (corrupt or edited checkpoint)`),
    );
    // whitespace is not content: re-indented, the same checkpoint loads
    writeFileSync(join(dir2, 'checkpoint.json'), JSON.stringify(JSON.parse(text), null, 4));
    expect(loadCheckpoint(runDirReader(new RunDir(dir2)), target)).toBeDefined();
    expectSavedState();
  });

  it('still loads version-2 checkpoints (CRC-32 seal) exactly, and checks their CRC', () => {
    const v2 = encodeVersion2(good as unknown as Record<string, unknown>);
    const fresh = newTrainer();
    expect(attempt({ ...files, 'checkpoint.json': v2 }, { ...target, trainer: fresh })).toMatchObject({ version: 2, ...position, partial, history });
    expectSavedState(fresh);
    const flipped = v2.slice();
    flipped[new TextDecoder().decode(v2).indexOf('"loss": 1.25') + 10] ^= 1; // 1.25 → 1.35
    expect(() => loadCheckpoint(reader({ ...files, 'checkpoint.json': flipped }), target)).toThrow(/checkpoint\.json: the CRC-32 does not match the content/);
    const v1 = new TextEncoder().encode(new TextDecoder().decode(v2).replace('"version": 2', '"version": 1'));
    expect(() => loadCheckpoint(reader({ ...files, 'checkpoint.json': v1 }), target)).toThrow(/checkpoint version 1 is not supported \(expected one of 2, 3\)/);
  });

  it(`refuses every one of ${CASES} byte-level corruptions of checkpoint.json unless it means the same (then loads exactly)`, () => {
    const rng = new Rng(11);
    let loaded = 0;
    for (let i = 0; i < CASES; i++) {
      // one case in five changes only whitespace: those must load, the others must not
      const bad = i % 5 === 0 ? reformat(files['checkpoint.json'], rng) : damage(files['checkpoint.json'], rng);
      if (same(bad, files['checkpoint.json'])) continue;
      const ck = attempt({ ...files, 'checkpoint.json': bad });
      // the digest covers the parsed content: only a change JSON ignores (whitespace) may load
      expect(ck !== undefined, `case ${i} loaded: ${ck !== undefined}, same meaning: ${sameMeaning(bad)}`).toBe(sameMeaning(bad));
      if (ck) {
        loaded++;
        expect(ck).toMatchObject({ ...position, partial, history });
        expectSavedState();
      }
    }
    // the load path was exercised: most of the whitespace-only cases differ from the file
    expect(loaded).toBeGreaterThan(150);
  });

  it(`survives ${CASES} structural changes with a valid digest; what loads is the saved training state`, () => {
    const rng = new Rng(12);
    let rejected = 0;
    for (let i = 0; i < CASES; i++) {
      const m = mutate(rng);
      const ck = attempt({ ...files, 'checkpoint.json': m.bytes });
      if (!ck) {
        rejected++;
        continue;
      }
      // a change that loads is a no-op or within the bookkeeping of the epoch (an optional metric
      // removed, a sum or a metric given another value in its range), never in the training state
      const noOp = JSON.stringify(m.ck) === JSON.stringify({ ...good, sha256: undefined });
      expect(noOp || m.path[0] === 'history' || m.path[0] === 'partial', `loaded a change at ${m.path.join('.')}`).toBe(true);
      expect(ck.partial).toEqual(m.ck.partial);
      expect(ck.history).toEqual(m.ck.history);
      expectSavedState();
    }
    expect(rejected).toBeGreaterThan(CASES * 0.9);
  });

  for (const file of ['particles-1.bin', 'test-particles-1.bin']) {
    it(`rejects ${CASES} corruptions of ${file}, and its absence`, () => {
      const rng = new Rng(13);
      for (let i = 0; i < CASES; i++) {
        const bad = damage(files[file], rng, 28);
        if (!same(bad, files[file])) expect(attempt({ ...files, [file]: bad })).toBeUndefined();
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
