import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DataFormatError } from '@eqprop/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCifar100, parseCifar100 } from './cifar100.js';
import { makeCifar100, tempDir } from './test-utils.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// byte value that encodes (example, channel, position) so any reordering shows
const pixel = (n: number, c: number, p: number) => (n * 7 + c * 50 + p) % 256;

describe('parseCifar100', () => {
  const buf = makeCifar100(
    [
      [4, 99],
      [19, 0],
      [7, 42],
    ],
    pixel,
  );

  it('decodes records to HWC images in [0, 1] with fine or coarse labels', () => {
    const fine = parseCifar100(buf, 'train.bin');
    expect(fine.count).toBe(3);
    expect(fine.numClasses).toBe(100);
    expect(Array.from(fine.labels)).toEqual([99, 0, 42]);
    const coarse = parseCifar100(buf, 'train.bin', 'coarse');
    expect(coarse.numClasses).toBe(20);
    expect(Array.from(coarse.labels)).toEqual([4, 19, 7]);
    // example 2, row 3, column 9, channel B: at ((2*32+3)*32+9)*3+2 in HWC
    const p = 3 * 32 + 9;
    expect(fine.images[2 * 3072 + p * 3 + 2]).toBeCloseTo(pixel(2, 2, p) / 255, 6);
    expect(fine.images[p * 3]).toBeCloseTo(pixel(0, 0, p) / 255, 6);
    expect(fine.images[3072 + p * 3 + 1]).toBeCloseTo(pixel(1, 1, p) / 255, 6);
    expect(parseCifar100(buf, 'train.bin', 'fine', 2).images.length).toBe(2 * 3072);
  });

  it('rejects a wrong length, a coarse label above 19, a fine label above 99, an unknown label kind', () => {
    expect(() => parseCifar100(buf.subarray(0, 3074 + 1), 'b.bin')).toThrow(/^b\.bin: 3075 bytes, expected a positive multiple of 3074/);
    expect(() => parseCifar100(new Uint8Array(0), 'b.bin')).toThrow(DataFormatError);
    // a CIFAR-10 batch (3073-byte records) is not a CIFAR-100 file
    expect(() => parseCifar100(new Uint8Array(3073 * 2), 'b.bin')).toThrow(/6146 bytes, expected a positive multiple of 3074/);
    const badCoarse = buf.slice();
    badCoarse[3074] = 20;
    expect(() => parseCifar100(badCoarse, 'b.bin', 'fine')).toThrow(/^b\.bin: coarse label 20 in record 1, expected 0\.\.19$/);
    const badFine = buf.slice();
    badFine[2 * 3074 + 1] = 100;
    expect(() => parseCifar100(badFine, 'b.bin', 'coarse')).toThrow(/^b\.bin: fine label 100 in record 2, expected 0\.\.99$/);
    expect(() => parseCifar100(buf, 'b.bin', 'superclass' as never)).toThrow(ConfigError);
  });
});

describe('loadCifar100', () => {
  it('reads train.bin / test.bin from dataDir or dataDir/cifar-100-binary, names the labels it carries', async () => {
    const a = join(tmp.dir, 'a');
    const b = join(tmp.dir, 'b', 'cifar-100-binary');
    for (const d of [a, b]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(
        join(d, 'train.bin'),
        makeCifar100(
          [
            [1, 11],
            [2, 22],
            [3, 33],
          ],
          pixel,
        ),
      );
      writeFileSync(join(d, 'test.bin'), makeCifar100([[5, 55]], pixel));
    }
    for (const dataDir of [a, join(tmp.dir, 'b')]) {
      const ds = await loadCifar100({ split: 'train', dataDir });
      expect(ds).toMatchObject({ name: 'cifar100-train', count: 3, exampleShape: [32, 32, 3], numClasses: 100 });
      expect(Array.from(ds.labels)).toEqual([11, 22, 33]);
    }
    const coarse = await loadCifar100({ split: 'test', dataDir: a, labels: 'coarse' });
    expect(coarse).toMatchObject({ name: 'cifar100-coarse-test', count: 1, numClasses: 20 });
    expect(Array.from(coarse.labels)).toEqual([5]);
    expect((await loadCifar100({ split: 'train', dataDir: a, limit: 2 })).count).toBe(2);
  });

  it('names the missing file and suggests download', async () => {
    await expect(loadCifar100({ split: 'test', dataDir: join(tmp.dir, 'none') })).rejects.toThrow(
      /cifar-100-binary\/test\.bin: file not found.*pass download: true/,
    );
    await expect(loadCifar100({ split: 'test', dataDir: join(tmp.dir, 'none'), labels: 'x' as never })).rejects.toThrow(ConfigError);
  });
});
