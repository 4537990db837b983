import { DataFormatError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { readTar } from './tar.js';
import { writeTar } from './test-utils.js';

describe('readTar', () => {
  const a = new TextEncoder().encode('hello');
  const b = new Uint8Array(1300).map((_, i) => i % 251);
  const tar = writeTar([
    { name: 'dir/a.txt', data: a },
    { name: 'dir/b.bin', data: b },
  ]);

  it('lists regular files with their contents', () => {
    const entries = readTar(tar, 't.tar');
    expect(entries.map((e) => [e.name, e.type, e.data.length])).toEqual([
      ['dir/a.txt', 'file', 5],
      ['dir/b.bin', 'file', 1300],
    ]);
    expect(entries[1].data).toEqual(b);
  });

  it('rejects a bad checksum or a truncated member', () => {
    const bad = tar.slice();
    bad[3] ^= 1;
    expect(() => readTar(bad, 't.tar')).toThrow(/t\.tar: tar header at byte 0 has checksum/);
    expect(() => readTar(tar.subarray(0, 1024 + 600), 't.tar')).toThrow(DataFormatError);
    expect(() => readTar(tar.subarray(0, 1024 + 600), 't.tar')).toThrow(/claims 1300 bytes, only 88 remain/);
  });
});
