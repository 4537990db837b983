import { join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import type { Dataset } from './dataset.js';
import { downloadFile } from './download.js';
import { readIdxPair } from './idx.js';
import { checkSplit, findIdxFile, IDX_FILES, type Split } from './mnist.js';
import { DATASET_SOURCES, type DownloadOptions, joinUrl } from './sources.js';

export interface FashionMnistOptions extends DownloadOptions {
  split: Split;
  /** Folder holding (or receiving) the standard IDX files, raw or `.gz`. */
  dataDir: string;
  limit?: number;
}

/** Fashion-MNIST (Xiao et al. 2017): 60 000 train / 10 000 test, 28×28×1, 10 classes. */
export async function loadFashionMnist(opts: FashionMnistOptions): Promise<Dataset> {
  checkSplit(opts.split);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
    throw new ConfigError('loadFashionMnist needs dataDir: the folder holding (or receiving) the Fashion-MNIST files');
  }
  const names = IDX_FILES[opts.split];
  const paths: string[] = [];
  for (const name of [names.images, names.labels]) {
    let path = findIdxFile(opts.dataDir, name);
    if (!path) {
      const file = `${name}.gz`;
      if (!opts.download) {
        throw new DataFormatError(`${join(opts.dataDir, file)}: file not found, expected Fashion-MNIST ${name}(.gz) there (pass download: true to fetch it)`);
      }
      const official = Object.values(DATASET_SOURCES.fashionMnist.files).find((f) => f.file === file)!;
      path = join(opts.dataDir, file);
      await downloadFile(joinUrl(opts.baseUrl ?? DATASET_SOURCES.fashionMnist.baseUrl, file), path, {
        md5: opts.checksums?.[file] ?? official.md5,
        onProgress: opts.onProgress && ((bytes, total) => opts.onProgress!(file, bytes, total)),
      });
    }
    paths.push(path);
  }
  return readIdxPair(paths[0], paths[1], `fashion-mnist-${opts.split}`, 10, opts.limit);
}
