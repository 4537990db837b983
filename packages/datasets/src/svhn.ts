import { join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import { type Dataset, resolveLimit } from './dataset.js';
import { downloadFile } from './download.js';
import { type MatArray, parseMat } from './mat.js';
import { checkSplit, type Split } from './mnist.js';
import { firstExisting, readFileOrThrowAsync } from './read-file.js';
import { DATASET_SOURCES, type DownloadOptions, joinUrl } from './sources.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = PLANE * 3;
export const SVHN_FILES: Record<Split, string> = { train: 'train_32x32.mat', test: 'test_32x32.mat' };

const show = (dims: number[]) => `[${dims.join(', ')}]`;

/**
 * Decodes SVHN's cropped digits from a parsed MAT-file: X uint8 32×32×3×N (column-major: row,
 * column, channel, example) to HWC images in [0, 1], and y (N×1, 1..10, where 10 is the digit 0)
 * to labels 0..9. Keeps the first `limit` examples.
 */
export function svhnFromMat(arrays: Record<string, MatArray>, what: string, limit?: number): { images: Float32Array; labels: Int32Array; count: number } {
  const { X, y } = arrays;
  if (X.className !== 'uint8' || !(X.data instanceof Uint8Array)) throw new DataFormatError(`${what}: X of class ${X.className}, expected uint8 images`);
  const n = X.dims[3];
  if (X.dims.length !== 4 || X.dims[0] !== SIDE || X.dims[1] !== SIDE || X.dims[2] !== 3 || n === 0) {
    throw new DataFormatError(`${what}: X of dimensions ${show(X.dims)}, expected [32, 32, 3, N] with N ≥ 1`);
  }
  if (y.dims.length !== 2 || Math.min(...y.dims) !== 1 || y.data.length !== n) {
    throw new DataFormatError(`${what}: y of dimensions ${show(y.dims)}, expected [${n}, 1] (one label per image of X)`);
  }
  const labels = new Int32Array(resolveLimit(limit, n));
  for (let i = 0; i < n; i++) {
    const v = y.data[i];
    if (!Number.isInteger(v) || v < 1 || v > 10) throw new DataFormatError(`${what}: label ${v} at index ${i}, expected 1..10 (10 is the digit 0)`);
    if (i < labels.length) labels[i] = v % 10;
  }
  const count = labels.length;
  const images = new Float32Array(count * PIXELS);
  const src = X.data;
  for (let e = 0; e < count; e++) {
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < SIDE; col++) {
        for (let row = 0; row < SIDE; row++) {
          images[e * PIXELS + (row * SIDE + col) * 3 + c] = src[e * PIXELS + c * PLANE + col * SIDE + row] / 255;
        }
      }
    }
  }
  return { images, labels, count };
}

/** Parses an SVHN cropped-digits file (`train_32x32.mat`, `test_32x32.mat`). */
export function parseSvhn(buf: Uint8Array, what: string, limit?: number) {
  return svhnFromMat(parseMat(buf, what, ['X', 'y']), what, limit);
}

export interface SvhnOptions extends DownloadOptions {
  split: Split;
  /** Folder holding (or receiving) train_32x32.mat / test_32x32.mat. */
  dataDir: string;
  limit?: number;
}

/** SVHN cropped digits (Netzer et al. 2011): 73 257 train / 26 032 test, 32×32×3 (HWC), 10 classes (the extra set is not read). */
export async function loadSvhn(opts: SvhnOptions): Promise<Dataset> {
  checkSplit(opts.split);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
    throw new ConfigError('loadSvhn needs dataDir: the folder holding (or receiving) the SVHN .mat files');
  }
  const file = SVHN_FILES[opts.split];
  const path = join(opts.dataDir, file);
  if (!firstExisting([path])) {
    if (!opts.download) throw new DataFormatError(`${path}: file not found, expected the SVHN file ${file} there (pass download: true to fetch it)`);
    const official = Object.values(DATASET_SOURCES.svhn.files).find((f) => f.file === file)!;
    await downloadFile(joinUrl(opts.baseUrl ?? DATASET_SOURCES.svhn.baseUrl, file), path, {
      md5: opts.checksums?.[file] ?? official.md5,
      onProgress: opts.onProgress && ((bytes, total) => opts.onProgress!(file, bytes, total)),
    });
  }
  const { images, labels, count } = parseSvhn(await readFileOrThrowAsync(path), path, opts.limit);
  return { name: `svhn-${opts.split}`, images, labels, count, exampleShape: [SIDE, SIDE, 3], numClasses: 10 };
}
