import { loadMnist, loadFashionMnist, loadCifar10, type Dataset } from '@eqprop/datasets';
import type { RunConfig } from './config.js';

/** Loads the train and test sets a run config names. */
export async function loadData(config: RunConfig['data']): Promise<{ train: Dataset; test: Dataset }> {
  const { dataset, dataDir, download, trainLimit, testLimit } = config;
  if (dataset === 'mnist') {
    return {
      train: await loadMnist({ split: 'train', dataDir, limit: trainLimit }),
      test: await loadMnist({ split: 'test', dataDir, limit: testLimit }),
    };
  }
  const dir = dataDir ?? `data/${dataset}`;
  const load = dataset === 'fashion-mnist' ? loadFashionMnist : loadCifar10;
  return {
    train: await load({ split: 'train', dataDir: dir, download, limit: trainLimit }),
    test: await load({ split: 'test', dataDir: dir, download, limit: testLimit }),
  };
}
