import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ConfigError, DataFormatError } from '@eqprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCifar10 } from './cifar10.js';
import { loadCifar100 } from './cifar100.js';
import { downloadFile } from './download.js';
import { DownloadError } from './errors.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadKmnist } from './kmnist.js';
import { loadSvhn } from './svhn.js';
import { makeCifar, makeCifar100, makeIdx, md5, serve, tempDir, writeTar } from './test-utils.js';

const tmp = tempDir();
let server: Awaited<ReturnType<typeof serve>>;

const fashion = {
  'train-images-idx3-ubyte.gz': gzipSync(
    makeIdx(
      [4, 28, 28],
      new Uint8Array(4 * 784).map((_, i) => i % 256),
    ),
  ),
  'train-labels-idx1-ubyte.gz': gzipSync(makeIdx([4], [9, 0, 3, 5])),
};
const batch = (label: number) => makeCifar([label, label], (_n, c, p) => (c * 100 + p) % 256);
const cifarArchive = gzipSync(
  writeTar([
    ...[1, 2, 3, 4, 5].map((i) => ({ name: `cifar-10-batches-bin/data_batch_${i}.bin`, data: batch(i) })),
    { name: 'cifar-10-batches-bin/test_batch.bin', data: batch(7) },
    { name: 'cifar-10-batches-bin/../../escape.bin', data: batch(0) },
  ]),
);
const kmnist = {
  't10k-images-idx3-ubyte.gz': gzipSync(
    makeIdx(
      [3, 28, 28],
      new Uint8Array(3 * 784).map((_, i) => (i * 7) % 256),
    ),
  ),
  't10k-labels-idx1-ubyte.gz': gzipSync(makeIdx([3], [2, 8, 1])),
};
const cifar100Archive = gzipSync(
  writeTar([
    {
      name: 'cifar-100-binary/train.bin',
      data: makeCifar100(
        [
          [3, 30],
          [19, 99],
        ],
        (_n, c, p) => (c * 100 + p) % 256,
      ),
    },
    { name: 'cifar-100-binary/test.bin', data: makeCifar100([[0, 7]], () => 1) },
    { name: 'cifar-100-binary/fine_label_names.txt', data: new TextEncoder().encode('apple\n') },
    { name: '../cifar-100-binary/escape.bin', data: new Uint8Array(10) },
  ]),
);
// written by SciPy (fixtures/make-svhn-sample.py): labels 1, 10, 5, 10
const svhnTest = new Uint8Array(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'svhn-sample.mat')));
const blob = new Uint8Array(100_000).map((_, i) => (i * 31) % 256);

beforeAll(async () => {
  server = await serve({
    '/fashion/train-images-idx3-ubyte.gz': fashion['train-images-idx3-ubyte.gz'],
    '/fashion/train-labels-idx1-ubyte.gz': fashion['train-labels-idx1-ubyte.gz'],
    '/kriz/cifar-10-binary.tar.gz': cifarArchive,
    '/kriz/cifar-100-binary.tar.gz': cifar100Archive,
    '/housenumbers/test_32x32.mat': svhnTest,
    '/kmnist/t10k-images-idx3-ubyte.gz': kmnist['t10k-images-idx3-ubyte.gz'],
    '/kmnist/t10k-labels-idx1-ubyte.gz': kmnist['t10k-labels-idx1-ubyte.gz'],
    '/blob': blob,
    '/moved': { redirect: '/blob' },
    '/loop': { redirect: '/loop' },
  });
});
afterAll(async () => {
  await server.close();
  tmp.cleanup();
});

describe('downloadFile', () => {
  it('downloads, follows a redirect, verifies md5 and sha256, reports progress', async () => {
    const dest = join(tmp.dir, 'dl', 'blob.bin');
    const progress: number[] = [];
    const sha256 = (await import('node:crypto')).createHash('sha256').update(blob).digest('hex');
    await downloadFile(`${server.url}/moved`, dest, {
      md5: md5(blob),
      sha256,
      onProgress: (b, total) => {
        expect(total).toBe(blob.length);
        progress.push(b);
      },
    });
    expect(new Uint8Array(readFileSync(dest))).toEqual(blob);
    expect(progress.at(-1)).toBe(blob.length);
    expect(readdirSync(join(tmp.dir, 'dl'))).toEqual(['blob.bin']);
  });

  it('a checksum mismatch is a DataFormatError and leaves no file behind', async () => {
    const dir = join(tmp.dir, 'mismatch');
    const err = await downloadFile(`${server.url}/blob`, join(dir, 'blob.bin'), { md5: '0'.repeat(32) }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/\/blob: md5 [0-9a-f]{32}, expected 0{32} \(corrupt or wrong file, not saved\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a 404, a redirect loop, a refused connection and a bad URL are clear errors', async () => {
    const dest = join(tmp.dir, 'err', 'x');
    const err = await downloadFile(`${server.url}/nothing`, dest).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toBe(`GET ${server.url}/nothing: HTTP 404 Not Found, expected 200`);
    await expect(downloadFile(`${server.url}/loop`, dest)).rejects.toThrow(/too many redirects/);
    await expect(downloadFile('http://127.0.0.1:1/x', dest)).rejects.toThrow(DownloadError);
    await expect(downloadFile('ftp://example.org/x', dest)).rejects.toThrow(ConfigError);
    expect(readdirSync(join(tmp.dir, 'err'))).toEqual([]);
  });
});

describe('loaders with download', () => {
  const checksums = Object.fromEntries(Object.entries(fashion).map(([k, v]) => [k, md5(v)]));

  it('Fashion-MNIST: downloads the missing gzipped files, then reads them without the network', async () => {
    const dataDir = join(tmp.dir, 'fashion');
    const baseUrl = `${server.url}/fashion/`;
    const ds = await loadFashionMnist({ split: 'train', dataDir, download: true, baseUrl, checksums });
    expect(ds).toMatchObject({ name: 'fashion-mnist-train', count: 4, exampleShape: [28, 28, 1], numClasses: 10 });
    expect(Array.from(ds.labels)).toEqual([9, 0, 3, 5]);
    expect(ds.images[785]).toBeCloseTo((785 % 256) / 255, 6);
    const hits = server.hits.length;
    const again = await loadFashionMnist({ split: 'train', dataDir, download: true, baseUrl, checksums, limit: 2 });
    expect(again.count).toBe(2);
    expect(server.hits.length).toBe(hits);
  });

  it('Fashion-MNIST: the official checksums reject other bytes; missing files without download name the file', async () => {
    const dataDir = join(tmp.dir, 'fashion-official');
    const err = await loadFashionMnist({ split: 'train', dataDir, download: true, baseUrl: `${server.url}/fashion` }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d/);
    expect(readdirSync(dataDir)).toEqual([]);
    await expect(loadFashionMnist({ split: 'test', dataDir })).rejects.toThrow(/t10k-images-idx3-ubyte\.gz: file not found.*pass download: true/);
    await expect(loadFashionMnist({ split: 'test', dataDir, download: true, baseUrl: `${server.url}/fashion/` })).rejects.toThrow(/HTTP 404/);
  });

  it('CIFAR-10: downloads the archive, extracts the batches (flattened, known names only), loads both splits', async () => {
    const dataDir = join(tmp.dir, 'cifar');
    const opts = { dataDir, download: true, baseUrl: `${server.url}/kriz`, checksums: { 'cifar-10-binary.tar.gz': md5(cifarArchive) } };
    const train = await loadCifar10({ split: 'train', ...opts });
    expect(train).toMatchObject({ name: 'cifar10-train', count: 10, exampleShape: [32, 32, 3] });
    expect(Array.from(train.labels)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    // pixel 3 of the blue plane is (200 + 3) % 256: HWC index 3*3+2
    expect(train.images[3 * 3 + 2]).toBeCloseTo(203 / 255, 6);
    const test = await loadCifar10({ split: 'test', ...opts });
    expect(Array.from(test.labels)).toEqual([7, 7]);
    expect(readdirSync(join(dataDir, 'cifar-10-batches-bin')).sort()).toEqual([
      'data_batch_1.bin',
      'data_batch_2.bin',
      'data_batch_3.bin',
      'data_batch_4.bin',
      'data_batch_5.bin',
      'test_batch.bin',
    ]);
    expect(existsSync(join(tmp.dir, 'escape.bin'))).toBe(false);
    expect(server.hits.filter((h) => h.startsWith('/kriz')).length).toBe(1);
  });

  it('CIFAR-10: a checksum mismatch leaves nothing behind', async () => {
    const dataDir = join(tmp.dir, 'cifar-bad');
    const err = await loadCifar10({ split: 'test', dataDir, download: true, baseUrl: `${server.url}/kriz/` }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/md5 [0-9a-f]{32}, expected c32a1d4ab5d03f1284b67883e8d87530/);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('Kuzushiji-MNIST: downloads the missing gzipped files with their checksums, then reads them offline', async () => {
    const dataDir = join(tmp.dir, 'kmnist');
    const checksums = Object.fromEntries(Object.entries(kmnist).map(([k, v]) => [k, md5(v)]));
    const opts = { split: 'test' as const, dataDir, download: true, baseUrl: `${server.url}/kmnist`, checksums };
    const ds = await loadKmnist(opts);
    expect(ds).toMatchObject({ name: 'kmnist-test', count: 3, exampleShape: [28, 28, 1], numClasses: 10 });
    expect(Array.from(ds.labels)).toEqual([2, 8, 1]);
    expect(ds.images[800]).toBeCloseTo(((800 * 7) % 256) / 255, 6);
    expect(readdirSync(dataDir).sort()).toEqual(['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
    const hits = server.hits.length;
    expect((await loadKmnist(opts)).count).toBe(3);
    expect(server.hits.length).toBe(hits);
  });

  it('Kuzushiji-MNIST: the official checksums reject other bytes and nothing is saved', async () => {
    const dataDir = join(tmp.dir, 'kmnist-official');
    const err = await loadKmnist({ split: 'test', dataDir, download: true, baseUrl: `${server.url}/kmnist/` }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/t10k-images-idx3-ubyte\.gz: md5 [0-9a-f]{32}, expected 5c965bf0a639b31b8f53240b1b52f4d7/);
    expect(readdirSync(dataDir)).toEqual([]);
    await expect(loadKmnist({ split: 'train', dataDir })).rejects.toThrow(/train-images-idx3-ubyte\.gz: file not found, expected Kuzushiji-MNIST/);
  });

  it('CIFAR-100: downloads the archive, extracts train.bin / test.bin (known names only), fine and coarse labels', async () => {
    const dataDir = join(tmp.dir, 'cifar100');
    const opts = { dataDir, download: true, baseUrl: `${server.url}/kriz`, checksums: { 'cifar-100-binary.tar.gz': md5(cifar100Archive) } };
    const train = await loadCifar100({ split: 'train', ...opts });
    expect(train).toMatchObject({ name: 'cifar100-train', count: 2, exampleShape: [32, 32, 3], numClasses: 100 });
    expect(Array.from(train.labels)).toEqual([30, 99]);
    expect(train.images[3 * 3 + 2]).toBeCloseTo(203 / 255, 6);
    const coarse = await loadCifar100({ split: 'train', labels: 'coarse', ...opts });
    expect(Array.from(coarse.labels)).toEqual([3, 19]);
    expect(Array.from((await loadCifar100({ split: 'test', ...opts })).labels)).toEqual([7]);
    expect(readdirSync(join(dataDir, 'cifar-100-binary')).sort()).toEqual(['fine_label_names.txt', 'test.bin', 'train.bin']);
    expect(server.hits.filter((h) => h.startsWith('/kriz/cifar-100')).length).toBe(1);
  });

  it('CIFAR-100: the official checksum rejects other bytes and leaves nothing behind', async () => {
    const dataDir = join(tmp.dir, 'cifar100-bad');
    const err = await loadCifar100({ split: 'train', dataDir, download: true, baseUrl: `${server.url}/kriz/` }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/md5 [0-9a-f]{32}, expected 03b5dce01913d631647c71ecec9e9cb8/);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('SVHN: downloads the .mat file with its checksum, then reads it offline; the official checksum rejects other bytes', async () => {
    const dataDir = join(tmp.dir, 'svhn');
    const baseUrl = `${server.url}/housenumbers/`;
    const ds = await loadSvhn({ split: 'test', dataDir, download: true, baseUrl, checksums: { 'test_32x32.mat': md5(svhnTest) } });
    expect(ds).toMatchObject({ name: 'svhn-test', count: 4, exampleShape: [32, 32, 3], numClasses: 10 });
    expect(Array.from(ds.labels)).toEqual([1, 0, 5, 0]);
    const hits = server.hits.length;
    expect((await loadSvhn({ split: 'test', dataDir, download: true, baseUrl })).count).toBe(4);
    expect(server.hits.length).toBe(hits);
    const other = join(tmp.dir, 'svhn-official');
    const err = await loadSvhn({ split: 'test', dataDir: other, download: true, baseUrl }).catch((e) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toMatch(/test_32x32\.mat: md5 [0-9a-f]{32}, expected eb5a983be6a315427106f1b164d9cef3/);
    expect(readdirSync(other)).toEqual([]);
  });
});
