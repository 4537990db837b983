import { type Batch, DataFormatError, tf } from '@eqprop/core';

/** An MNIST subset as written by scripts/prepare-assets.mjs: uint8 pixels and labels. */
export interface DigitSet {
  count: number;
  /** Pixels per example (rows · cols). */
  size: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

export const NUM_CLASSES = 10;

/** Parses the asset format: "EQPD", uint32 count, rows, cols (little-endian), pixels, labels. */
export function parseDigitSet(buffer: ArrayBuffer, name: string): DigitSet {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (bytes.length < 16 || magic !== 'EQPD') throw new DataFormatError(`${name}: not a demo digit asset (magic "${magic}")`);
  const [count, rows, cols] = [4, 8, 12].map((o) => view.getUint32(o, true));
  const size = rows * cols;
  if (bytes.length !== 16 + count * (size + 1)) {
    throw new DataFormatError(`${name}: ${bytes.length} bytes, expected ${16 + count * (size + 1)} for ${count} examples of ${rows}×${cols}`);
  }
  return { count, size, rows, cols, pixels: bytes.subarray(16, 16 + count * size), labels: bytes.subarray(16 + count * size) };
}

export async function loadDigitSet(url: string): Promise<DigitSet> {
  const res = await fetch(url);
  if (!res.ok) throw new DataFormatError(`${url}: HTTP ${res.status}`);
  return parseDigitSet(await res.arrayBuffer(), url);
}

/** Pixels of example `i` scaled to [0, 1]. */
export function example(ds: DigitSet, i: number): Float32Array {
  const out = new Float32Array(ds.size);
  const src = ds.pixels.subarray(i * ds.size, (i + 1) * ds.size);
  for (let p = 0; p < ds.size; p++) out[p] = src[p] / 255;
  return out;
}

/** The examples at `indices` as a flat Batch (x: [B, 784], y one-hot). The caller disposes x and y. */
export function makeBatch(ds: DigitSet, indices: ArrayLike<number>): Batch {
  const b = indices.length;
  const x = new Float32Array(b * ds.size);
  const y = new Float32Array(b * NUM_CLASSES);
  const labels = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const j = indices[i];
    const src = ds.pixels.subarray(j * ds.size, (j + 1) * ds.size);
    for (let p = 0; p < ds.size; p++) x[i * ds.size + p] = src[p] / 255;
    labels[i] = ds.labels[j];
    y[i * NUM_CLASSES + labels[i]] = 1;
  }
  return { x: tf.tensor2d(x, [b, ds.size]), y: tf.tensor2d(y, [b, NUM_CLASSES]), labels, indices: Int32Array.from(indices) };
}

/** Consecutive ranges 0..count-1 in batches of `size`. */
export function ranges(count: number, size: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let s = 0; s < count; s += size) out.push(Int32Array.from({ length: Math.min(size, count - s) }, (_, i) => s + i));
  return out;
}
