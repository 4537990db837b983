import { join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import type { Dataset } from './dataset.js';
import { downloadFile } from './download.js';
import { readIdxPair } from './idx.js';
import { checkSplit, findIdxFile, IDX_FILES, type Split } from './mnist.js';
import { type DatasetSource, type DownloadOptions, joinUrl } from './sources.js';

export interface IdxDatasetOptions extends DownloadOptions {
  split: Split;
  /** Folder holding (or receiving) the standard IDX files, raw or `.gz`. */
  dataDir: string;
  limit?: number;
}

/**
 * A dataset published as the four MNIST-named IDX files (Fashion-MNIST, Kuzushiji-MNIST): read
 * from `dataDir`, each missing file fetched as `.gz` from `source` when `download` is set.
 * `title` names the set in messages, `name` prefixes the Dataset's name.
 */
export async function loadIdxDataset(source: DatasetSource, title: string, name: string, loader: string, opts: IdxDatasetOptions): Promise<Dataset> {
  checkSplit(opts.split);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') {
    throw new ConfigError(`${loader} needs dataDir: the folder holding (or receiving) the ${title} files`);
  }
  const names = IDX_FILES[opts.split];
  const paths: string[] = [];
  for (const idxName of [names.images, names.labels]) {
    let path = findIdxFile(opts.dataDir, idxName);
    if (!path) {
      const file = `${idxName}.gz`;
      if (!opts.download) {
        throw new DataFormatError(`${join(opts.dataDir, file)}: file not found, expected ${title} ${idxName}(.gz) there (pass download: true to fetch it)`);
      }
      const official = Object.values(source.files).find((f) => f.file === file)!;
      path = join(opts.dataDir, file);
      await downloadFile(joinUrl(opts.baseUrl ?? source.baseUrl, file), path, {
        md5: opts.checksums?.[file] ?? official.md5,
        onProgress: opts.onProgress && ((bytes, total) => opts.onProgress!(file, bytes, total)),
      });
    }
    paths.push(path);
  }
  return readIdxPair(paths[0], paths[1], `${name}-${opts.split}`, 10, opts.limit);
}
