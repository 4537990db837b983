// Corrupted inputs for every reader: each must parse to a consistent result or throw a
// DataFormatError — never another error type, never hang, never allocate beyond its input.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DataFormatError, Rng } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { parseCifar10 } from './cifar10.js';
import { parseCifar100 } from './cifar100.js';
import { idxToDataset, parseIdx } from './idx.js';
import { parseSvhn } from './svhn.js';
import { readTar } from './tar.js';
import { makeCifar, makeCifar100, makeIdx, writeTar } from './test-utils.js';

const CASES = 1000;

/** A corrupted copy of `good`: truncation, bit flips, header bytes, appended bytes, garbage, or gzip of one of these. */
function corrupt(good: Uint8Array, rng: Rng, headerBytes: number): Uint8Array {
  const kind = rng.int(6);
  let b = good.slice();
  if (kind === 0) b = b.subarray(0, rng.int(b.length));
  else if (kind === 1) for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)] ^= 1 << rng.int(8);
  else if (kind === 2) for (let k = 1 + rng.int(4); k > 0; k--) b[rng.int(headerBytes)] = rng.int(256);
  else if (kind === 3) b = Uint8Array.from([...b, ...Array.from({ length: 1 + rng.int(100) }, () => rng.int(256))]);
  else if (kind === 4) b = Uint8Array.from({ length: rng.int(2 * good.length) }, () => rng.int(256));
  else {
    b = gzipSync(corrupt(good, rng, headerBytes));
    if (rng.next() < 0.5) b[rng.int(b.length)] ^= 1 << rng.int(8);
    if (rng.next() < 0.3) b = b.subarray(0, rng.int(b.length));
  }
  return b;
}

/** Runs `read` on CASES corruptions; returns how many parsed and how many were rejected. */
function fuzz(good: Uint8Array, seed: number, headerBytes: number, read: (b: Uint8Array) => void) {
  const rng = new Rng(seed);
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < CASES; i++) {
    const input = corrupt(good, rng, headerBytes);
    const t0 = performance.now();
    try {
      read(input);
      parsed++;
    } catch (e) {
      if (!(e instanceof DataFormatError)) throw new Error(`case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      expect((e as Error).message).not.toContain('\n');
      rejected++;
    }
    expect(performance.now() - t0).toBeLessThan(1000);
  }
  return { parsed, rejected };
}

/** Bytes a buffer really holds, gzipped or not (a gzip may legitimately expand). */
const plainLength = (b: Uint8Array) => (b[0] === 0x1f && b[1] === 0x8b ? Infinity : b.length);

describe('fuzz', () => {
  const rng = new Rng(1);
  const images = makeIdx(
    [200, 4, 3],
    Array.from({ length: 2400 }, () => rng.int(256)),
  );
  const labels = makeIdx(
    [200],
    Array.from({ length: 200 }, () => rng.int(10)),
  );
  const validImages = parseIdx(images, 'images', 3);
  const validLabels = parseIdx(labels, 'labels', 1);

  it('IDX images', () => {
    const r = fuzz(images, 11, 16, (b) => {
      const img = parseIdx(b, 'images', 3);
      const n = img.dims.reduce((a, d) => a * d, 1);
      expect(img.data.length).toBe(n);
      expect(n).toBeLessThanOrEqual(plainLength(b));
      const ds = idxToDataset(img, { dims: [img.dims[0]], data: validLabels.data.subarray(0, img.dims[0]) }, 'f');
      expect(ds.images.length).toBe(n);
    });
    expect(r.parsed).toBeGreaterThan(50);
    expect(r.rejected).toBeGreaterThan(300);
  });

  it('IDX labels', () => {
    const r = fuzz(labels, 12, 8, (b) => {
      const lab = parseIdx(b, 'labels', 1);
      expect(lab.data.length).toBe(lab.dims[0]);
      expect(lab.data.length).toBeLessThanOrEqual(plainLength(b));
      const ds = idxToDataset(validImages, lab, 'f');
      expect(ds.labels.every((l) => l >= 0 && l < 10)).toBe(true);
    });
    expect(r.parsed).toBeGreaterThan(5); // most flips of a label byte give a value ≥ 10: rejected
    expect(r.rejected).toBeGreaterThan(300);
  });

  it('IDX without an expected dimension count', () => {
    fuzz(images, 13, 16, (b) => {
      const a = parseIdx(b, 'any');
      expect(a.data.length).toBe(a.dims.reduce((x, d) => x * d, 1));
    });
  });

  it('CIFAR-10 batches', () => {
    const good = makeCifar([0, 9, 5], () => rng.int(256));
    const r = fuzz(good, 14, 1, (b) => {
      const out = parseCifar10(b, 'batch');
      expect(out.count * 3073).toBe(b.length);
      expect(out.images.length).toBe(out.count * 3072);
      expect(out.labels.every((l) => l >= 0 && l <= 9)).toBe(true);
    });
    expect(r.parsed).toBeGreaterThan(50);
    expect(r.rejected).toBeGreaterThan(300);
  });

  it('CIFAR-100 files, fine and coarse labels', () => {
    const good = makeCifar100(
      [
        [0, 0],
        [19, 99],
        [7, 35],
      ],
      () => rng.int(256),
    );
    for (const labels of ['fine', 'coarse'] as const) {
      const r = fuzz(good, labels === 'fine' ? 16 : 17, 2, (b) => {
        const out = parseCifar100(b, 'train.bin', labels);
        expect(out.count * 3074).toBe(b.length);
        expect(out.images.length).toBe(out.count * 3072);
        expect(out.labels.every((l) => l >= 0 && l < out.numClasses)).toBe(true);
      });
      expect(r.parsed).toBeGreaterThan(50);
      expect(r.rejected).toBeGreaterThan(300);
    }
  });

  it('SVHN MAT-files, compressed (zlib) and plain (written by SciPy)', () => {
    const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
    for (const [file, seed] of [
      ['svhn-sample.mat', 18],
      ['svhn-sample-plain.mat', 19],
    ] as const) {
      const good = new Uint8Array(readFileSync(join(fixtures, file)));
      const r = fuzz(good, seed, 200, (b) => {
        const out = parseSvhn(b, file);
        expect(out.count).toBeLessThanOrEqual(4);
        expect(out.images.length).toBe(out.count * 3072);
        expect(out.labels.every((l) => l >= 0 && l <= 9)).toBe(true);
      });
      expect(r.parsed).toBeGreaterThan(20);
      expect(r.rejected).toBeGreaterThan(300);
    }
  });

  it('tar archives', () => {
    const good = writeTar([
      { name: 'a/data_batch_1.bin', data: new Uint8Array(700).fill(3) },
      { name: 'a/test_batch.bin', data: new Uint8Array(20).fill(4) },
    ]);
    fuzz(good, 15, 512, (b) => {
      for (const e of readTar(b, 'archive')) expect(e.data.length).toBeLessThanOrEqual(b.length);
    });
  });
});
