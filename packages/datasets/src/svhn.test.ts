import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { DataFormatError } from '@eqprop/core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMat } from './mat.js';
import { loadSvhn, parseSvhn, svhnFromMat } from './svhn.js';
import { tempDir } from './test-utils.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// written by SciPy's savemat (fixtures/make-svhn-sample.py): X[r, c, ch, n] = (r + 2c + 50ch + 7n) % 256, y = 1, 10, 5, 10
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const compressed = new Uint8Array(readFileSync(join(fixtures, 'svhn-sample.mat')));
const plain = new Uint8Array(readFileSync(join(fixtures, 'svhn-sample-plain.mat')));
const pixel = (r: number, c: number, ch: number, n: number) => (r + 2 * c + 50 * ch + 7 * n) % 256;

describe('parseMat', () => {
  it('reads the arrays SciPy wrote, compressed or not, skipping other variables', () => {
    for (const buf of [compressed, plain]) {
      const { X, y } = parseMat(buf, 'sample.mat', ['X', 'y']);
      expect(X).toMatchObject({ className: 'uint8', dims: [32, 32, 3, 4] });
      expect(y).toMatchObject({ className: 'double', dims: [4, 1] });
      expect(Array.from(y.data)).toEqual([1, 10, 5, 10]);
      // column-major: X(r, c, ch, n) at r + 32c + 1024ch + 3072n
      expect(X.data[5 + 32 * 7 + 1024 * 2 + 3072 * 3]).toBe(pixel(5, 7, 2, 3));
    }
  });

  it('reads a double array stored as miUINT8 (as MATLAB saves small integers), with a padded 6-byte name', () => {
    // one uncompressed miMATRIX "digits": flags (class 6 = double), dims [3, 1], name (miINT8, 6 bytes
    // padded to 8), real part miUINT8 [1, 10, 7] padded to 8
    const words = (...v: number[]) => new Uint8Array(new Uint32Array(v).buffer);
    const body = new Uint8Array([
      ...words(6, 8, 6, 0), // miUINT32, 8 bytes: class double, no flags
      ...words(5, 8, 3, 1), // miINT32, 8 bytes: dimensions 3 × 1
      ...words(1, 6),
      ...new TextEncoder().encode('digits'),
      0,
      0, // miINT8, 6 bytes, padded
      ...words(2, 3),
      1,
      10,
      7,
      0,
      0,
      0,
      0,
      0, // miUINT8, 3 bytes, padded
    ]);
    const file = new Uint8Array([...plain.subarray(0, 128), ...words(14, body.length), ...body]);
    const { digits } = parseMat(file, 'm.mat', ['digits']);
    expect(digits).toMatchObject({ className: 'double', dims: [3, 1] });
    expect(Array.from(digits.data)).toEqual([1, 10, 7]);
  });

  it('rejects a file that is not a v5 MAT-file, a missing variable, a big-endian file', () => {
    expect(() => parseMat(new Uint8Array(100), 'a.mat', ['X'])).toThrow(/^a\.mat: 100 bytes, expected at least the 128-byte MAT-file header$/);
    const hdf5 = compressed.slice();
    hdf5.set(new TextEncoder().encode('\x89HDF\r\n'), 0);
    expect(() => parseMat(hdf5, 'a.mat', ['X'])).toThrow(/expected a MATLAB 5\.0 MAT-file .*v7\.3 files are HDF5/);
    expect(() => parseMat(plain, 'a.mat', ['X', 'Z'])).toThrow(/^a\.mat: no real numeric array Z, expected variables X, Z$/);
    const big = plain.slice();
    big.set([0x4d, 0x49], 126);
    expect(() => parseMat(big, 'a.mat', ['X'])).toThrow(/big-endian/);
    expect(() => parseMat(plain.subarray(0, plain.length - 100), 'a.mat', ['X'])).toThrow(
      /^a\.mat: data element at byte \d+ claims \d+ bytes, only \d+ follow \(truncated or corrupt\)$/,
    );
  });

  it('caps what a compressed element may inflate to (a zlib bomb stops with one line)', () => {
    const z = deflateSync(new Uint8Array(5_000_000));
    const out = new Uint8Array(136 + z.length);
    out.set(compressed.subarray(0, 128)); // the header, then one miCOMPRESSED element
    new DataView(out.buffer).setUint32(128, 15, true);
    new DataView(out.buffer).setUint32(132, z.length, true);
    out.set(z, 136);
    expect(() => parseMat(out, 'bomb.mat', ['X'], 1_000_000)).toThrow(/^bomb\.mat: compressed element at byte 128 inflates to more than 1000000 bytes/);
  });
});

describe('parseSvhn', () => {
  it('decodes X to HWC images in [0, 1] and y to 0..9 (10 is the digit 0)', () => {
    const { images, labels, count } = parseSvhn(compressed, 'train_32x32.mat');
    expect(count).toBe(4);
    expect(Array.from(labels)).toEqual([1, 0, 5, 0]);
    // example 2, row 3, column 9, channel G: HWC index ((2*32+3)*32+9)*3+1
    expect(images[2 * 3072 + (3 * 32 + 9) * 3 + 1]).toBeCloseTo(pixel(3, 9, 1, 2) / 255, 6);
    expect(images[(31 * 32 + 0) * 3 + 2]).toBeCloseTo(pixel(31, 0, 2, 0) / 255, 6);
    expect(images[3 * 3072 + (0 * 32 + 31) * 3]).toBeCloseTo(pixel(0, 31, 0, 3) / 255, 6);
    expect(parseSvhn(plain, 't.mat', 2).images.length).toBe(2 * 3072);
  });

  it('rejects a label outside 1..10 and X of the wrong shape, naming them', () => {
    const badLabel = plain.slice();
    const { y } = parseMat(plain, 'p', ['X', 'y']);
    // the doubles of y lie in the file: find 10.0 (the second label) and make it 11
    const view = new DataView(badLabel.buffer);
    const at = Array.from({ length: badLabel.length - 8 }, (_, i) => i).find((i) => view.getFloat64(i, true) === 10 && view.getFloat64(i - 8, true) === 1)!;
    view.setFloat64(at, 11, true);
    expect(y.data[1]).toBe(10);
    expect(() => parseSvhn(badLabel, 't.mat')).toThrow(/^t\.mat: label 11 at index 1, expected 1\.\.10 \(10 is the digit 0\)$/);
    const x = parseMat(plain, 'p', ['X', 'y']);
    x.X.dims = [32, 32, 1, 12];
    expect(() => svhnFromMat(x, 't.mat')).toThrow(/^t\.mat: X of dimensions \[32, 32, 1, 12\], expected \[32, 32, 3, N\]/);
    const y3 = parseMat(plain, 'p', ['X', 'y']);
    y3.y = { className: 'double', dims: [3, 1], data: new Float64Array([1, 2, 3]) };
    expect(() => svhnFromMat(y3, 't.mat')).toThrow(/^t\.mat: y of dimensions \[3, 1\], expected \[4, 1\]/);
  });
});

describe('loadSvhn', () => {
  it('reads train_32x32.mat from dataDir; names a missing file and suggests download', async () => {
    const dataDir = join(tmp.dir, 'svhn');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'train_32x32.mat'), compressed);
    const ds = await loadSvhn({ split: 'train', dataDir, limit: 3 });
    expect(ds).toMatchObject({ name: 'svhn-train', count: 3, exampleShape: [32, 32, 3], numClasses: 10 });
    expect(Array.from(ds.labels)).toEqual([1, 0, 5]);
    await expect(loadSvhn({ split: 'test', dataDir })).rejects.toThrow(/test_32x32\.mat: file not found.*pass download: true/);
    await expect(loadSvhn({ split: 'test', dataDir: join(tmp.dir, 'x') })).rejects.toThrow(DataFormatError);
  });
});
