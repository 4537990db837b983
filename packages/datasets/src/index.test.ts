import { describe, expect, it } from 'vitest';
import * as api from './index.js';

describe('public API', () => {
  it('exports the names the trainer and CLI use', () => {
    const names = [
      'parseIdx',
      'loadIdxPair',
      'loadMnist',
      'loadFashionMnist',
      'parseCifar10',
      'loadCifar10',
      'parseCifar100',
      'loadCifar100',
      'loadKmnist',
      'parseMat',
      'parseSvhn',
      'loadSvhn',
      'downloadFile',
      'DATASET_SOURCES',
      'oneHot',
      'makeBatch',
      'batches',
      'numBatches',
      'subset',
      'holdOut',
      'synthetic',
      'DownloadError',
    ];
    for (const n of names) expect(api, n).toHaveProperty(n);
    expect(api.DATASET_SOURCES.cifar10.files.archive.md5).toBe('c32a1d4ab5d03f1284b67883e8d87530');
    expect(api.DATASET_SOURCES.cifar100.files.archive.md5).toBe('03b5dce01913d631647c71ecec9e9cb8');
    expect(api.DATASET_SOURCES.svhn.files.train.md5).toBe('e26dedcc434d2e4c54c9b2d4a06d8373');
    expect(api.DATASET_SOURCES.kmnist.files.trainImages.md5).toBe('bdb82020997e1d708af4cf47b453dcf7');
  });
});
