import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { DataFormatError, fetchToHost, type RngState, runOnBackend } from '@eqprop/core';
import type { ParticleStore, Trainer } from '@eqprop/learning';
import { loadParams, type SavedParams, saveParams } from '@eqprop/models';
import { atomicWrite, type RunDir } from './run-dir.js';
import type { EpochMetrics } from './training-run.js';

/**
 * Checkpoints of a training run: `checkpoint.json` (parameters, optimizer state, RNG state,
 * position, partial epoch sums, history, a SHA-256 digest of all of it) and, with persistent particles,
 * a binary particle file (and one of test particles with persistent evaluation). Particle files
 * alternate between `particles-0.bin` and `particles-1.bin` (`test-particles-…`): a new one is
 * written (atomically) beside the one the current checkpoint names, then the checkpoint is
 * replaced (atomically), so a kill at any moment leaves a checkpoint and the particles that
 * belong to it. Loading checks everything and turns any corruption into a one-line DataFormatError.
 */
export const CHECKPOINT_VERSION = 3;

/**
 * Versions the loader reads: 3 seals the content with a SHA-256 digest (`sha256`); 2 (written
 * before it) with a CRC-32 (`checksum`). Both are checked before anything else is read.
 */
export const READABLE_CHECKPOINT_VERSIONS = [2, 3] as const;

/** Running sums of the epoch in progress. */
export interface PartialEpoch {
  errors: number;
  loss: number;
  count: number;
  steps: number;
  /** Σ over examples of their free-phase steps (absent in checkpoints written before it existed). */
  exampleSteps?: number;
  batches: number;
  seconds: number;
}

export interface Checkpoint {
  version: (typeof READABLE_CHECKPOINT_VERSIONS)[number];
  /** Checkpoints written so far by this run; names the particle file, `particles-<seq % 2>.bin`. */
  seq: number;
  /** Next position: epoch (0-based) and batch within it. */
  epoch: number;
  batch: number;
  params: SavedParams;
  optimizer: ReturnType<Trainer['optimizer']['getState']>;
  rng: RngState;
  partial: PartialEpoch;
  /** Metrics of the finished epochs (one per epoch before `epoch`). */
  history: EpochMetrics[];
  /** Size and CRC-32 of this checkpoint's particle file (absent without persistent particles). */
  particles?: ParticleFile;
  /** The same for the test particles (persistent evaluation only). */
  testParticles?: ParticleFile;
  /** The same for the validation particles (persistent evaluation with a validation set). */
  validParticles?: ParticleFile;
}

export interface ParticleFile {
  file: string;
  bytes: number;
  crc32: number;
}

/** The particle stores a checkpoint carries: field, file name prefix, and the trainer's store. */
const PARTICLE_STORES = [
  { key: 'particles', prefix: 'particles', what: 'particles (persistent particles)', of: (t: Trainer) => t.particles },
  { key: 'testParticles', prefix: 'test-particles', what: 'test particles (persistent evaluation)', of: (t: Trainer) => t.evalParticles },
  { key: 'validParticles', prefix: 'valid-particles', what: 'validation particles (persistent evaluation)', of: (t: Trainer) => t.validParticles },
] as const;

type ParticleKey = (typeof PARTICLE_STORES)[number]['key'];

function stores(trainer: Trainer): { key: ParticleKey; prefix: string; what: string; store: ParticleStore }[] {
  return PARTICLE_STORES.flatMap(({ of, ...s }) => {
    const store = of(trainer);
    return store ? [{ ...s, store }] : [];
  });
}

/** What a checkpoint is loaded into and checked against. */
export interface CheckpointTarget {
  trainer: Trainer;
  epochs: number;
  batchesPerEpoch: number;
}

/**
 * A file of the run folder, or undefined when it does not exist; refuses files over `maxBytes`.
 * `where` gives the path an error message names (the bare name without it).
 */
export type ReadFile = ((name: string, maxBytes: number) => Uint8Array | undefined) & { where?: (name: string) => string };

const PARTICLE_MAGIC = 0x50505145; // "EQPP" little-endian
const PARTICLE_FORMAT = 1;

/** Writes checkpoints of one run, alternating particle files. */
export class Checkpointer {
  constructor(
    readonly runDir: RunDir,
    readonly trainer: Trainer,
    /** `seq` of the checkpoint on disk (0: none yet). */
    private seq = 0,
  ) {
    // temporary files of writes a kill interrupted
    for (const f of readdirSync(runDir.path)) if (/\.tmp-\d+$/.test(f)) rmSync(runDir.file(f), { force: true });
  }

  /**
   * Saves the trainer at a position; throws a NumericalError (writing nothing) if a parameter is
   * NaN or Inf. Its reads are asynchronous where the backend's are (WebGPU in Node).
   */
  async save(epoch: number, batch: number, partial: PartialEpoch, history: EpochMetrics[]): Promise<void> {
    const { trainer } = this;
    await runOnBackend(trainer.checkParamsReads());
    await fetchToHost([...Object.values(trainer.net.params), ...trainer.optimizer.slotTensors()]);
    const seq = this.seq + 1;
    const files: Partial<Pick<Checkpoint, ParticleKey>> = {};
    for (const { key, prefix, store } of stores(trainer)) {
      const bytes = encodeParticles(store.layers, store.count);
      const file = particleFile(prefix, seq);
      atomicWrite(this.runDir.file(file), bytes);
      files[key] = { file, bytes: bytes.byteLength, crc32: crc32(bytes) };
    }
    const ck: Checkpoint = {
      version: CHECKPOINT_VERSION,
      seq,
      epoch,
      batch,
      params: saveParams(trainer.net.params),
      optimizer: trainer.optimizer.getState(),
      rng: trainer.rng.getState(),
      partial: { ...partial },
      history,
      ...files,
    };
    atomicWrite(this.runDir.file('checkpoint.json'), encodeCheckpoint(ck));
    this.seq = seq;
  }
}

/**
 * The checkpoint as written: pretty JSON whose last field is the SHA-256 of the canonical payload,
 * the compact JSON of the rest. Whitespace may change without changing the payload; any other
 * change to the content does.
 */
export function encodeCheckpoint(ck: Checkpoint): string {
  return `${JSON.stringify({ ...ck, sha256: sha256Hex(JSON.stringify(ck)) }, null, 1)}\n`;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Reads files of a run folder (stat first, so an oversized file is refused before it is read). */
export function runDirReader(runDir: RunDir): ReadFile {
  const read: ReadFile = (name, maxBytes) => {
    const path = runDir.file(name);
    if (!existsSync(path)) return undefined;
    const size = statSync(path).size;
    if (size > maxBytes) throw new DataFormatError(`${path} has ${size} bytes, more than the ${maxBytes} a checkpoint of this run can need`);
    return readFileSync(path);
  };
  read.where = (name) => runDir.file(name);
  return read;
}

/**
 * Checks `checkpoint.json` and its particle file completely, then loads parameters, optimizer
 * state, RNG state and particles into the trainer. Returns the checkpoint (position, sums,
 * history); undefined when there is no checkpoint yet.
 */
export function loadCheckpoint(read: ReadFile, target: CheckpointTarget): Checkpoint | undefined {
  const { trainer } = target;
  const values = Object.values(trainer.net.params).reduce((n, p) => n + p.size, 0);
  const raw = read('checkpoint.json', 16 * values * 4 + (64 << 20));
  if (!raw) return undefined;
  const ck = parseCheckpoint(raw, target, read.where?.('checkpoint.json'));
  const loaded = stores(trainer).map(({ key, what, store }) => {
    const { layers, count } = store;
    const expected = particleHeaderBytes(layers.length) + layers.reduce((n, a) => n + a.byteLength, 0);
    const entry = ck[key];
    if (!entry) throw new DataFormatError(`checkpoint.json lacks the ${what} of this run`);
    if (entry.bytes !== expected) throw new DataFormatError(`checkpoint.json: ${key} of ${entry.bytes} bytes, expected ${expected}`);
    const bytes = read(entry.file, expected);
    if (!bytes) throw new DataFormatError(`${entry.file} is missing from the run folder`);
    if (bytes.byteLength !== expected || crc32(bytes) !== entry.crc32) {
      throw new DataFormatError(`${entry.file} is corrupt (size or CRC-32 differs from checkpoint.json)`);
    }
    return {
      store,
      values: decodeParticles(
        bytes,
        layers.map((a) => a.length / count),
        count,
      ),
    };
  });
  loadParams(trainer.net.params, ck.params);
  trainer.optimizer.setState(ck.optimizer);
  trainer.rng.setState(ck.rng);
  for (const { store, values } of loaded) values.forEach((a, l) => store.layers[l].set(a));
  return ck;
}

/**
 * Parses and checks checkpoint.json (all but the tensors, which loadParams and setState check):
 * first its seal (the SHA-256 digest, or the CRC-32 of a version-2 checkpoint) over the canonical
 * payload, then every field. `path` is the file an error names.
 */
export function parseCheckpoint(raw: Uint8Array, target: CheckpointTarget, path = 'checkpoint.json'): Checkpoint {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw new DataFormatError(`${path} is not valid JSON (truncated or corrupt)`);
  }
  if (!isObject(value)) throw new DataFormatError(`${path} does not hold an object`);
  let body: Record<string, unknown>;
  if (value.version === 3) {
    const { sha256, ...rest } = value;
    if (typeof sha256 !== 'string' || sha256 !== sha256Hex(JSON.stringify(rest))) {
      throw new DataFormatError(`${path}: the SHA-256 digest does not match the content (corrupt or edited checkpoint)`);
    }
    body = rest;
  } else if (value.version === 2) {
    const { checksum, ...rest } = value;
    if (checksum !== crc32(new TextEncoder().encode(JSON.stringify(rest)))) {
      throw new DataFormatError(`${path}: the CRC-32 does not match the content (corrupt or edited version-2 checkpoint)`);
    }
    body = rest;
  } else {
    throw new DataFormatError(
      `${path}: checkpoint version ${show(value.version)} is not supported (expected one of ${READABLE_CHECKPOINT_VERSIONS.join(', ')})`,
    );
  }
  const ck = body as unknown as Checkpoint;
  const bad = (what: string) => new DataFormatError(`checkpoint.json: ${what}`);
  if (!isInt(ck.seq, 1)) throw bad(`seq must be a positive integer, got ${show(ck.seq)}`);
  if (!isInt(ck.epoch, 0) || ck.epoch > target.epochs) throw bad(`epoch must be an integer in 0..${target.epochs}, got ${show(ck.epoch)}`);
  const lastBatch = ck.epoch === target.epochs ? 0 : target.batchesPerEpoch;
  if (!isInt(ck.batch, 0) || ck.batch > lastBatch) throw bad(`batch must be an integer in 0..${lastBatch}, got ${show(ck.batch)}`);
  if (!Array.isArray(ck.rng) || ck.rng.length !== 4 || !ck.rng.every((w) => isInt(w, 0) && w < 2 ** 32) || ck.rng.every((w) => w === 0)) {
    throw bad('rng must be four 32-bit unsigned integers, not all zero');
  }
  if (!isObject(ck.partial)) throw bad('partial must be an object');
  for (const k of ['errors', 'count', 'steps', 'batches'] as const) if (!isInt(ck.partial[k], 0)) throw bad(`partial.${k} must be an integer ≥ 0`);
  // the sums cover exactly the batches before the position
  if (ck.partial.batches !== ck.batch) throw bad(`partial.batches must equal batch (${ck.batch}), got ${show(ck.partial.batches)}`);
  if (ck.partial.errors > ck.partial.count) throw bad(`partial.errors (${ck.partial.errors}) exceeds partial.count (${ck.partial.count})`);
  if (ck.partial.exampleSteps !== undefined && !isNumber(ck.partial.exampleSteps, 0)) throw bad('partial.exampleSteps must be a number ≥ 0');
  for (const k of ['loss', 'seconds'] as const) if (!isNumber(ck.partial[k], 0)) throw bad(`partial.${k} must be a number ≥ 0`);
  if (!Array.isArray(ck.history) || ck.history.length !== ck.epoch) throw bad(`history must list the ${show(ck.epoch)} finished epoch(s)`);
  ck.history.forEach((m, i) => checkHistoryEntry(m, i, bad));
  for (const { key, prefix } of PARTICLE_STORES) {
    const p = ck[key];
    if (p === undefined) continue;
    if (!isObject(p) || p.file !== particleFile(prefix, ck.seq) || !isInt(p.bytes, 0) || !isInt(p.crc32, 0)) {
      throw bad(`${key} must name ${particleFile(prefix, ck.seq)} with its byte count and CRC-32`);
    }
  }
  if (!isObject(ck.params)) throw bad('params must be an object');
  if (!isObject(ck.optimizer)) throw bad('optimizer must be an object');
  return ck;
}

/** Metrics of the finished epochs; NaN and Inf become null in JSON, so a measured value may be null. */
const HISTORY_FIELDS = {
  required: ['trainError', 'trainLoss', 'testError', 'testLoss', 'seconds', 'meanFreeSteps'],
  // absent in checkpoints written before them, or without the option that makes them
  optional: ['freeStepsPerExample', 'evalSeconds', 'testErrorFromZero', 'testLossFromZero', 'validError', 'validLoss'],
} as const;

function checkHistoryEntry(m: unknown, i: number, bad: (what: string) => DataFormatError): void {
  if (!isObject(m)) throw bad(`history[${i}] must be an object`);
  if (m.epoch !== i + 1) throw bad(`history[${i}].epoch must be ${i + 1}, got ${show(m.epoch)}`);
  for (const f of [...HISTORY_FIELDS.required, ...HISTORY_FIELDS.optional]) {
    const v = m[f];
    if (v === undefined && (HISTORY_FIELDS.optional as readonly string[]).includes(f)) continue;
    const max = f.endsWith('Error') || f.includes('ErrorFrom') ? 1 : Infinity; // error rates are fractions
    if (!(v === null || isNumber(v, 0, max))) throw bad(`history[${i}].${f} must be a number in [0, ${max}] or null, got ${show(v)}`);
  }
}

function particleFile(prefix: string, seq: number): string {
  return `${prefix}-${seq % 2}.bin`;
}

function particleHeaderBytes(layers: number): number {
  return 16 + 4 * layers;
}

/** "EQPP", format, example count, layer count, values per example of each layer, then float32 data. */
export function encodeParticles(layers: Float32Array[], count: number): Uint8Array {
  const header = particleHeaderBytes(layers.length);
  const bytes = new Uint8Array(header + layers.reduce((n, a) => n + a.byteLength, 0));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, PARTICLE_MAGIC, true);
  view.setUint32(4, PARTICLE_FORMAT, true);
  view.setUint32(8, count, true);
  view.setUint32(12, layers.length, true);
  layers.forEach((a, l) => view.setUint32(16 + 4 * l, a.length / count, true));
  let off = header;
  for (const a of layers) {
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  return bytes;
}

/** The layers of a particle file, checked against the sizes the trainer expects. */
export function decodeParticles(bytes: Uint8Array, sizes: number[], count: number): Float32Array[] {
  const header = particleHeaderBytes(sizes.length);
  const expected = header + sizes.reduce((n, s) => n + 4 * s * count, 0);
  if (bytes.byteLength !== expected) throw new DataFormatError(`particle file has ${bytes.byteLength} bytes, expected ${expected}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== PARTICLE_MAGIC || view.getUint32(4, true) !== PARTICLE_FORMAT) {
    throw new DataFormatError('particle file lacks the EQPP header (format 1)');
  }
  const layout = [count, sizes.length, ...sizes];
  const got = layout.map((_, i) => view.getUint32(8 + 4 * i, true));
  if (got.some((v, i) => v !== layout[i])) {
    throw new DataFormatError(`particle file holds ${got[0]} examples × [${got.slice(2)}], expected ${count} × [${sizes}]`);
  }
  let off = header;
  return sizes.map((s) => {
    const a = new Float32Array(s * count);
    new Uint8Array(a.buffer).set(bytes.subarray(off, off + a.byteLength));
    off += a.byteLength;
    return a;
  });
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE, as zlib and PNG use it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNumber(v: unknown, min: number, max = Infinity): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
}

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function show(v: unknown): string {
  return (JSON.stringify(v) ?? String(v)).slice(0, 40);
}
