import type { Dataset } from './dataset.js';
import { type IdxDatasetOptions, loadIdxDataset } from './idx-download.js';
import { DATASET_SOURCES } from './sources.js';

export type FashionMnistOptions = IdxDatasetOptions;

/** Fashion-MNIST (Xiao et al. 2017): 60 000 train / 10 000 test, 28×28×1, 10 classes. */
export function loadFashionMnist(opts: FashionMnistOptions): Promise<Dataset> {
  return loadIdxDataset(DATASET_SOURCES.fashionMnist, 'Fashion-MNIST', 'fashion-mnist', 'loadFashionMnist', opts);
}
