import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import { type Dataset, resolveLimit } from './dataset.js';
import { downloadFile } from './download.js';
import { maybeGunzip } from './gzip.js';
import { checkSplit, type Split } from './mnist.js';
import { firstExisting, readFileOrThrowAsync } from './read-file.js';
import { DATASET_SOURCES, type DownloadOptions, joinUrl } from './sources.js';
import { readTar } from './tar.js';

const PLANE = 32 * 32;
const PIXELS = PLANE * 3;
/** One record: the coarse label byte, the fine label byte, then the R, G and B planes of a 32×32 image. */
export const CIFAR100_RECORD = 2 + PIXELS;
export const CIFAR100_DIR = 'cifar-100-binary';
export const CIFAR100_FILES: Record<Split, string> = { train: 'train.bin', test: 'test.bin' };

/** Which label a CIFAR-100 example carries: one of 100 classes, or one of their 20 superclasses. */
export type Cifar100Labels = 'fine' | 'coarse';
const CLASSES: Record<Cifar100Labels, number> = { fine: 100, coarse: 20 };
/** Offset of each label byte inside a record. */
const LABEL_BYTE: Record<Cifar100Labels, number> = { coarse: 0, fine: 1 };

function checkLabels(labels: unknown): asserts labels is Cifar100Labels {
  if (labels !== 'fine' && labels !== 'coarse') {
    throw new ConfigError(`CIFAR-100 labels must be "fine" (100 classes) or "coarse" (20 superclasses), got ${JSON.stringify(labels)}`);
  }
}

/**
 * Parses a CIFAR-100 binary file: records of 2 label bytes + 3072 pixel bytes, converted to HWC
 * images in [0, 1]. Checks both labels of every record (coarse 0..19, fine 0..99) before
 * allocating, and keeps the first `limit` records.
 */
export function parseCifar100(buf: Uint8Array, what: string, labels: Cifar100Labels = 'fine', limit?: number) {
  checkLabels(labels);
  if (buf.length === 0 || buf.length % CIFAR100_RECORD !== 0) {
    throw new DataFormatError(
      `${what}: ${buf.length} bytes, expected a positive multiple of ${CIFAR100_RECORD} (CIFAR-100 records of 2 label + 3072 pixel bytes)`,
    );
  }
  const records = buf.length / CIFAR100_RECORD;
  for (let r = 0; r < records; r++) {
    const coarse = buf[r * CIFAR100_RECORD];
    const fine = buf[r * CIFAR100_RECORD + 1];
    if (coarse >= CLASSES.coarse) throw new DataFormatError(`${what}: coarse label ${coarse} in record ${r}, expected 0..19`);
    if (fine >= CLASSES.fine) throw new DataFormatError(`${what}: fine label ${fine} in record ${r}, expected 0..99`);
  }
  const count = resolveLimit(limit, records);
  const images = new Float32Array(count * PIXELS);
  const out = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const src = r * CIFAR100_RECORD;
    out[r] = buf[src + LABEL_BYTE[labels]];
    const dst = r * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) images[dst + p * 3 + c] = buf[src + 2 + c * PLANE + p] / 255;
    }
  }
  return { images, labels: out, count, numClasses: CLASSES[labels] };
}

export interface Cifar100Options extends DownloadOptions {
  split: Split;
  /** Folder holding train.bin / test.bin, directly or in `cifar-100-binary/` (where a download puts them). */
  dataDir: string;
  /** 'fine' (100 classes, the default) or 'coarse' (20 superclasses). */
  labels?: Cifar100Labels;
  limit?: number;
}

/** CIFAR-100 (Krizhevsky 2009): 50 000 train / 10 000 test, 32×32×3 (HWC), 100 fine or 20 coarse classes. */
export async function loadCifar100(opts: Cifar100Options): Promise<Dataset> {
  checkSplit(opts.split);
  const labels = opts.labels ?? 'fine';
  checkLabels(labels);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
    throw new ConfigError('loadCifar100 needs dataDir: the folder holding (or receiving) the CIFAR-100 binary files');
  }
  const file = CIFAR100_FILES[opts.split];
  const find = () => firstExisting([opts.dataDir, join(opts.dataDir, CIFAR100_DIR)].map((d) => join(d, file)));
  let path = find();
  if (!path) {
    if (!opts.download) {
      throw new DataFormatError(
        `${join(opts.dataDir, CIFAR100_DIR, file)}: file not found, expected the CIFAR-100 binary files in ${opts.dataDir} (pass download: true to fetch them)`,
      );
    }
    await downloadCifar100(opts);
    path = find();
    if (!path) throw new DataFormatError(`${join(opts.dataDir, DATASET_SOURCES.cifar100.files.archive.file)}: no ${CIFAR100_DIR}/${file} inside`);
  }
  const parsed = parseCifar100(await readFileOrThrowAsync(path), path, labels, opts.limit);
  const name = labels === 'fine' ? `cifar100-${opts.split}` : `cifar100-coarse-${opts.split}`;
  return { name, images: parsed.images, labels: parsed.labels, count: parsed.count, exampleShape: [32, 32, 3], numClasses: parsed.numClasses };
}

/** Downloads the official archive into `dataDir` and extracts its two data files to `dataDir/cifar-100-binary`. */
async function downloadCifar100(opts: Cifar100Options): Promise<void> {
  const { file, md5 } = DATASET_SOURCES.cifar100.files.archive;
  const archive = join(opts.dataDir, file);
  if (!firstExisting([archive])) {
    await downloadFile(joinUrl(opts.baseUrl ?? DATASET_SOURCES.cifar100.baseUrl, file), archive, {
      md5: opts.checksums?.[file] ?? md5,
      onProgress: opts.onProgress && ((bytes, total) => opts.onProgress!(file, bytes, total)),
    });
  }
  const tar = maybeGunzip(await readFile(archive), archive);
  const wanted = new Set([CIFAR100_FILES.train, CIFAR100_FILES.test, 'fine_label_names.txt', 'coarse_label_names.txt']);
  const out = join(opts.dataDir, CIFAR100_DIR);
  await mkdir(out, { recursive: true });
  for (const entry of readTar(tar, archive)) {
    const name = basename(entry.name); // only known names, flattened: no path from the archive reaches the disk
    if (entry.type !== 'file' || !wanted.has(name)) continue;
    const tmp = join(out, `${name}.part`);
    await writeFile(tmp, entry.data);
    await rename(tmp, join(out, name)); // a half-written file never looks complete
  }
}
