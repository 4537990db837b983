import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataFormatError } from '@eqprop/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIdxPair, parseIdx } from './idx.js';
import { loadMnist } from './mnist.js';
import { makeIdx, tempDir } from './test-utils.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const counts = (labels: Int32Array) => Array.from({ length: 10 }, (_, c) => labels.filter((l) => l === c).length);

describe('bundled MNIST', () => {
  it('loads the 60 000 training examples with the known label counts', async () => {
    const ds = await loadMnist({ split: 'train' });
    expect(ds.name).toBe('mnist-train');
    expect(ds.count).toBe(60000);
    expect(ds.exampleShape).toEqual([28, 28, 1]);
    expect(ds.images.length).toBe(60000 * 784);
    expect(ds.numClasses).toBe(10);
    expect(counts(ds.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect([min, max]).toEqual([0, 1]);
  });

  it('loads the 10 000 test examples, and a limit', async () => {
    const ds = await loadMnist({ split: 'test' });
    expect(ds.count).toBe(10000);
    expect(counts(ds.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    const small = await loadMnist({ split: 'test', limit: 100 });
    expect(small.count).toBe(100);
    expect(small.images).toEqual(ds.images.subarray(0, 100 * 784));
    expect(Array.from(small.labels)).toEqual(Array.from(ds.labels.subarray(0, 100)));
  });

  it('rejects a bad split or limit with a ConfigError', async () => {
    await expect(loadMnist({ split: 'val' as 'train' })).rejects.toThrow(/split must be "train" or "test"/);
    await expect(loadMnist({ split: 'test', limit: 0 })).rejects.toThrow(/limit must be an integer ≥ 1/);
  });
});

describe('IDX files', () => {
  const pixels = Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 20);
  const images = makeIdx([3, 2, 2], pixels);
  const labels = makeIdx([3], [7, 0, 9]);

  it('parses raw and gzipped files alike', () => {
    for (const buf of [images, gzipSync(images)]) {
      const { dims, data } = parseIdx(buf, 'img');
      expect(dims).toEqual([3, 2, 2]);
      expect(Array.from(data)).toEqual(pixels);
    }
  });

  it('loads a gzipped pair from a data dir with the standard names', async () => {
    const dir = join(tmp.dir, 'gz');
    mkdirSync(dir);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(images));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(labels));
    const ds = await loadMnist({ split: 'test', dataDir: dir });
    expect(ds.count).toBe(3);
    expect(ds.exampleShape).toEqual([2, 2, 1]);
    expect(Array.from(ds.labels)).toEqual([7, 0, 9]);
    expect(ds.images[5]).toBeCloseTo(100 / 255, 6);
  });

  it('loadIdxPair reads files and checks counts and labels', () => {
    const write = (name: string, b: Uint8Array) => {
      const p = join(tmp.dir, name);
      writeFileSync(p, b);
      return p;
    };
    const img = write('img', images);
    const ds = loadIdxPair(img, write('lab', labels), 'tiny');
    expect(ds).toMatchObject({ name: 'tiny', count: 3, numClasses: 10 });
    expect(() => loadIdxPair(img, write('lab2', makeIdx([2], [1, 2])), 'x')).toThrow(/2 labels for 3 images .* expected equal counts/);
    expect(() => loadIdxPair(img, write('lab3', makeIdx([3], [1, 2, 10])), 'x')).toThrow(/label 10 at index 2, expected 0..9/);
    expect(() => loadIdxPair(join(tmp.dir, 'missing'), img, 'x')).toThrow(/missing: cannot read file \(ENOENT\)/);
  });

  it('rejects truncated files, bad magic and wrong dimensions with one-line DataFormatErrors', () => {
    const cases: [Uint8Array, RegExp, number?][] = [
      [images.subarray(0, images.length - 1), /dimensions \[3, 2, 2\] need 12 data bytes, found 11/],
      [images.subarray(0, 10), /shorter than its 16-byte IDX header/],
      [images.subarray(0, 2), /2 bytes, expected at least a 4-byte IDX header/],
      [Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]), /magic number 0x504b0304, expected an IDX magic/],
      [Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 0]), /data type 0x0d .* expected 0x08/],
      [labels, /magic number 0x00000801 \(1 dimension\), expected 0x00000803/, 3],
      [images, /magic number 0x00000803 \(3 dimensions\), expected 0x00000801/, 1],
      [makeIdx([0xffffffff, 0xffffffff, 0xffffffff], [1, 2]), /need 7.*e\+28 data bytes, found 2/],
      [gzipSync(images).subarray(0, 20), /corrupt gzip data .* expected a valid gzip stream/],
    ];
    for (const [buf, message, dims] of cases) {
      let err: unknown;
      try {
        parseIdx(buf, 'file.idx', dims);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DataFormatError);
      expect((err as Error).message).toMatch(/^file\.idx: /);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});
