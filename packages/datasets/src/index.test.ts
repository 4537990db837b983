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
  });
});
