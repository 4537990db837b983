import { type Dataset, holdOut, loadCifar10, loadFashionMnist, loadMnist, subset } from '@eqprop/datasets';
import type { RunConfig } from './config.js';

/**
 * Loads the train and test sets a run config names; with `validation: N` the last N training
 * examples become the validation set and `trainLimit` applies to the rest.
 */
export async function loadData(config: RunConfig['data']): Promise<{ train: Dataset; test: Dataset; valid?: Dataset }> {
  const { dataset, dataDir, download, trainLimit, testLimit, validation } = config;
  const trainLoadLimit = validation === undefined ? trainLimit : undefined;
  let train: Dataset;
  let test: Dataset;
  if (dataset === 'mnist') {
    train = await loadMnist({ split: 'train', dataDir, limit: trainLoadLimit });
    test = await loadMnist({ split: 'test', dataDir, limit: testLimit });
  } else {
    const dir = dataDir ?? `data/${dataset}`;
    const load = dataset === 'fashion-mnist' ? loadFashionMnist : loadCifar10;
    train = await load({ split: 'train', dataDir: dir, download, limit: trainLoadLimit });
    test = await load({ split: 'test', dataDir: dir, download, limit: testLimit });
  }
  if (validation === undefined) return { train, test };
  const { rest, heldOut } = holdOut(train, validation);
  return { train: trainLimit === undefined ? rest : subset(rest, trainLimit), test, valid: heldOut };
}
