// The gunzip bound: a gzip bomb stops at the bound, in one line naming the file and the bound,
// without ever holding its whole output.
import { gzipSync } from 'node:zlib';
import { DataFormatError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { CIFAR10_RECORD } from './cifar10.js';
import { MAX_GUNZIP_BYTES, maybeGunzip } from './gzip.js';
import { parseIdx } from './idx.js';
import { makeIdx } from './test-utils.js';

const MiB = 2 ** 20;

describe('gunzip with a bound', () => {
  it('stops a gzip bomb (268 KB inflating to 256 MiB) at the bound, without allocating its output', () => {
    // 256 gzip members of 1 MiB of zeros each: gunzip reads them as one stream
    const member = gzipSync(new Uint8Array(MiB));
    const bomb = new Uint8Array(Buffer.concat(Array.from({ length: 256 }, () => member)));
    expect(bomb.length).toBeLessThan(300_000);
    const peakBefore = process.resourceUsage().maxRSS; // KiB, the process's highest resident size so far
    const t0 = performance.now();
    expect(() => maybeGunzip(bomb, 'bomb.idx.gz', MiB)).toThrow(
      new DataFormatError(
        'bomb.idx.gz: gzip data inflates to more than 1048576 bytes, the most a data file may hold; stopped there (a gzip bomb, or not a data file)',
      ),
    );
    // inflating it all would take ≥ 256 MiB (twice that while the chunks are joined) and longer
    expect(process.resourceUsage().maxRSS - peakBefore).toBeLessThan(32 * 1024);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('counts exactly: an output of the bound inflates, one byte more is refused', () => {
    const data = new Uint8Array(1000).map((_, i) => i % 251);
    expect(Array.from(maybeGunzip(gzipSync(data), 'f', 1000))).toEqual(Array.from(data));
    expect(() => maybeGunzip(gzipSync(data), 'f', 999)).toThrow(/^f: gzip data inflates to more than 999 bytes/);
  });

  it('parseIdx passes its bound on; the default holds the largest file read (the CIFAR-10 tar)', () => {
    const images = makeIdx(
      [10, 4, 4],
      Array.from({ length: 160 }, (_, i) => i),
    );
    expect(parseIdx(gzipSync(images), 'imgs.gz', 3, images.length).dims).toEqual([10, 4, 4]);
    expect(() => parseIdx(gzipSync(images), 'imgs.gz', 3, images.length - 1)).toThrow(`imgs.gz: gzip data inflates to more than ${images.length - 1} bytes`);
    // six batch files of 10 000 records and some kilobytes of tar headers and metadata
    expect(MAX_GUNZIP_BYTES).toBeGreaterThan(6 * 10_000 * CIFAR10_RECORD + MiB);
    expect(MAX_GUNZIP_BYTES).toBeLessThanOrEqual(512 * MiB);
  });
});
