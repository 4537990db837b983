import { type Dataset, holdOut, loadCifar10, loadCifar100, loadFashionMnist, loadKmnist, loadMnist, loadSvhn, subset } from '@eqprop/datasets';
import type { RunConfig } from './config.js';

/**
 * Loads the train and test sets a run config names; with `validation: N` the last N training
 * examples become the validation set and `trainLimit` applies to the rest.
 */
export async function loadData(config: RunConfig['data']): Promise<{ train: Dataset; test: Dataset; valid?: Dataset }> {
  const { dataset, dataDir, download, trainLimit, testLimit, validation, labels } = config;
  const trainLoadLimit = validation === undefined ? trainLimit : undefined;
  let train: Dataset;
  let test: Dataset;
  if (dataset === 'mnist') {
    train = await loadMnist({ split: 'train', dataDir, limit: trainLoadLimit });
    test = await loadMnist({ split: 'test', dataDir, limit: testLimit });
  } else {
    const dir = dataDir ?? `data/${dataset}`;
    const loaders = { 'fashion-mnist': loadFashionMnist, kmnist: loadKmnist, cifar10: loadCifar10, cifar100: loadCifar100, svhn: loadSvhn };
    const load = loaders[dataset];
    train = await load({ split: 'train', dataDir: dir, download, limit: trainLoadLimit, labels });
    test = await load({ split: 'test', dataDir: dir, download, limit: testLimit, labels });
  }
  if (validation === undefined) return { train, test };
  const { rest, heldOut } = holdOut(train, validation);
  return { train: trainLimit === undefined ? rest : subset(rest, trainLimit), test, valid: heldOut };
}
