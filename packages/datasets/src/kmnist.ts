import type { Dataset } from './dataset.js';
import { type IdxDatasetOptions, loadIdxDataset } from './idx-download.js';
import { DATASET_SOURCES } from './sources.js';

export type KmnistOptions = IdxDatasetOptions;

/**
 * Kuzushiji-MNIST (Clanuwat et al. 2018): 60 000 train / 10 000 test, 28×28×1, 10 classes of
 * cursive Japanese (one hiragana per row of the syllabary), in MNIST's IDX files and names.
 */
export function loadKmnist(opts: KmnistOptions): Promise<Dataset> {
  return loadIdxDataset(DATASET_SOURCES.kmnist, 'Kuzushiji-MNIST', 'kmnist', 'loadKmnist', opts);
}
