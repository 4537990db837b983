import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import { type Dataset, resolveLimit } from './dataset.js';
import { downloadFile } from './download.js';
import { maybeGunzip } from './gzip.js';
import { checkSplit, type Split } from './mnist.js';
import { firstExisting } from './read-file.js';
import { DATASET_SOURCES, type DownloadOptions, joinUrl } from './sources.js';
import { readTar } from './tar.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = PLANE * 3;
/** One record: a label byte, then the R, G and B planes of a 32×32 image. */
export const CIFAR10_RECORD = 1 + PIXELS;
export const CIFAR10_DIR = 'cifar-10-batches-bin';
export const CIFAR10_FILES: Record<Split, string[]> = {
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ['test_batch.bin'],
};

function checkLength(length: number, what: string): number {
  if (length === 0 || length % CIFAR10_RECORD !== 0) {
    throw new DataFormatError(`${what}: ${length} bytes, expected a positive multiple of ${CIFAR10_RECORD} (CIFAR-10 records of 1 label + 3072 pixel bytes)`);
  }
  return length / CIFAR10_RECORD;
}

/**
 * Decodes the first `n` records of `buf` into `images` (HWC, scaled to [0, 1]) and `labels`,
 * starting at example `at`. Checks every label of the file.
 */
function decodeInto(buf: Uint8Array, what: string, images: Float32Array, labels: Int32Array, at: number, n: number): void {
  const records = buf.length / CIFAR10_RECORD;
  for (let r = 0; r < records; r++) {
    const label = buf[r * CIFAR10_RECORD];
    if (label > 9) throw new DataFormatError(`${what}: label ${label} in record ${r}, expected 0..9`);
  }
  for (let r = 0; r < n; r++) {
    const src = r * CIFAR10_RECORD;
    labels[at + r] = buf[src];
    const dst = (at + r) * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) images[dst + p * 3 + c] = buf[src + 1 + c * PLANE + p] / 255;
    }
  }
}

/** Parses a CIFAR-10 binary batch: records of 1 + 3072 bytes, converted to HWC images in [0, 1]. */
export function parseCifar10(buf: Uint8Array, what: string): { images: Float32Array; labels: Int32Array; count: number } {
  const count = checkLength(buf.length, what);
  const images = new Float32Array(count * PIXELS);
  const labels = new Int32Array(count);
  decodeInto(buf, what, images, labels, 0, count);
  return { images, labels, count };
}

export interface Cifar10Options extends DownloadOptions {
  split: Split;
  /** Folder holding the batch files, directly or in `cifar-10-batches-bin/` (where a download puts them). */
  dataDir: string;
  limit?: number;
}

/** CIFAR-10 (Krizhevsky 2009): 50 000 train / 10 000 test, 32×32×3 (HWC), 10 classes. */
export async function loadCifar10(opts: Cifar10Options): Promise<Dataset> {
  checkSplit(opts.split);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
    throw new ConfigError('loadCifar10 needs dataDir: the folder holding (or receiving) the CIFAR-10 binary batches');
  }
  const files = CIFAR10_FILES[opts.split];
  const findDir = () => firstExisting([opts.dataDir, join(opts.dataDir, CIFAR10_DIR)].map((d) => join(d, files[0])));
  let first = findDir();
  if (!first) {
    if (!opts.download) {
      throw new DataFormatError(
        `${join(opts.dataDir, CIFAR10_DIR, files[0])}: file not found, expected the CIFAR-10 binary batches in ${opts.dataDir} (pass download: true to fetch them)`,
      );
    }
    await downloadCifar10(opts);
    first = findDir()!;
  }
  const dir = join(first, '..');
  const paths = files.map((f) => join(dir, f));
  const counts: number[] = [];
  for (const p of paths) {
    const size = await stat(p).then(
      (s) => s.size,
      () => {
        throw new DataFormatError(`${p}: file not found, expected CIFAR-10 batch ${basename(p)} beside ${files[0]}`);
      },
    );
    counts.push(checkLength(size, p));
  }
  const n = resolveLimit(
    opts.limit,
    counts.reduce((a, b) => a + b, 0),
  );
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0, at = 0; at < n; i++) {
    const buf = await readFile(paths[i]);
    const take = Math.min(checkLength(buf.length, paths[i]), n - at);
    decodeInto(buf, paths[i], images, labels, at, take);
    at += take;
  }
  return { name: `cifar10-${opts.split}`, images, labels, count: n, exampleShape: [SIDE, SIDE, 3], numClasses: 10 };
}

/** Downloads the official archive into `dataDir` and extracts its batch files to `dataDir/cifar-10-batches-bin`. */
async function downloadCifar10(opts: Cifar10Options): Promise<void> {
  const { file, md5 } = DATASET_SOURCES.cifar10.files.archive;
  const archive = join(opts.dataDir, file);
  if (!firstExisting([archive])) {
    await downloadFile(joinUrl(opts.baseUrl ?? DATASET_SOURCES.cifar10.baseUrl, file), archive, {
      md5: opts.checksums?.[file] ?? md5,
      onProgress: opts.onProgress && ((bytes, total) => opts.onProgress!(file, bytes, total)),
    });
  }
  const tar = maybeGunzip(await readFile(archive), archive);
  const wanted = new Set([...CIFAR10_FILES.train, ...CIFAR10_FILES.test, 'batches.meta.txt']);
  const out = join(opts.dataDir, CIFAR10_DIR);
  await mkdir(out, { recursive: true });
  let written = 0;
  for (const entry of readTar(tar, archive)) {
    const name = basename(entry.name); // only known names, flattened: no path from the archive reaches the disk
    if (entry.type !== 'file' || !wanted.has(name)) continue;
    const tmp = join(out, `${name}.part`);
    await writeFile(tmp, entry.data);
    await rename(tmp, join(out, name)); // a half-written batch never looks complete
    written++;
  }
  if (written === 0) {
    throw new DataFormatError(`${archive}: no CIFAR-10 batch files inside, expected ${CIFAR10_DIR}/data_batch_1.bin ...`);
  }
}
