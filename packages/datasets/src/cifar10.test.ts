import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError } from '@eqprop/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCifar10, parseCifar10 } from './cifar10.js';
import { makeCifar, tempDir } from './test-utils.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// byte value that encodes (example, channel, position) so any reordering shows
const pixel = (n: number, c: number, p: number) => (n * 7 + c * 50 + p) % 256;

describe('parseCifar10', () => {
  it('decodes records to HWC images in [0, 1]', () => {
    const { images, labels, count } = parseCifar10(makeCifar([3, 9], pixel), 'batch.bin');
    expect(count).toBe(2);
    expect(Array.from(labels)).toEqual([3, 9]);
    expect(images.length).toBe(2 * 3072);
    // example 1, row 2, column 5 (position 2*32+5), channel G: at ((1*32+2)*32+5)*3+1 in HWC
    const p = 2 * 32 + 5;
    expect(images[3072 + p * 3 + 1]).toBeCloseTo(pixel(1, 1, p) / 255, 6);
    expect(images[p * 3 + 0]).toBeCloseTo(pixel(0, 0, p) / 255, 6);
    expect(images[p * 3 + 2]).toBeCloseTo(pixel(0, 2, p) / 255, 6);
  });

  it('rejects a wrong length or a label above 9', () => {
    const good = makeCifar([1, 2], pixel);
    expect(() => parseCifar10(good.subarray(0, 3073 + 100), 'b.bin')).toThrow(/^b\.bin: 3173 bytes, expected a positive multiple of 3073/);
    expect(() => parseCifar10(new Uint8Array(0), 'b.bin')).toThrow(DataFormatError);
    const bad = good.slice();
    bad[3073] = 10;
    expect(() => parseCifar10(bad, 'b.bin')).toThrow(/^b\.bin: label 10 in record 1, expected 0..9$/);
  });
});

describe('loadCifar10', () => {
  const write = (dir: string, files: Record<string, Uint8Array>) => {
    mkdirSync(dir, { recursive: true });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  };

  it('reads the five training batches in order, from dataDir or dataDir/cifar-10-batches-bin', async () => {
    const files = Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`data_batch_${i}.bin`, makeCifar([i, i], pixel)]));
    write(join(tmp.dir, 'a'), files);
    write(join(tmp.dir, 'b', 'cifar-10-batches-bin'), files);
    for (const dataDir of [join(tmp.dir, 'a'), join(tmp.dir, 'b')]) {
      const ds = await loadCifar10({ split: 'train', dataDir });
      expect(ds).toMatchObject({ name: 'cifar10-train', count: 10, exampleShape: [32, 32, 3], numClasses: 10 });
      expect(Array.from(ds.labels)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    }
    const limited = await loadCifar10({ split: 'train', dataDir: join(tmp.dir, 'a'), limit: 3 });
    expect(Array.from(limited.labels)).toEqual([1, 1, 2]);
    expect(limited.images.length).toBe(3 * 3072);
  });

  it('rejects a batch file of the wrong length, naming it', async () => {
    const files = Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`data_batch_${i}.bin`, makeCifar([i], pixel)]));
    files['data_batch_3.bin'] = files['data_batch_3.bin'].subarray(0, 3000);
    write(join(tmp.dir, 'short'), files);
    await expect(loadCifar10({ split: 'train', dataDir: join(tmp.dir, 'short') })).rejects.toThrow(DataFormatError);
    await expect(loadCifar10({ split: 'train', dataDir: join(tmp.dir, 'short') })).rejects.toThrow(
      /data_batch_3\.bin: 3000 bytes, expected a positive multiple of 3073/,
    );
  });

  it('names the missing file and suggests download', async () => {
    await expect(loadCifar10({ split: 'test', dataDir: join(tmp.dir, 'none') })).rejects.toThrow(/test_batch\.bin: file not found.*pass download: true/);
    write(join(tmp.dir, 'c'), { 'data_batch_1.bin': makeCifar([0], pixel) });
    await expect(loadCifar10({ split: 'train', dataDir: join(tmp.dir, 'c') })).rejects.toThrow(/data_batch_2\.bin: file not found/);
  });
});
