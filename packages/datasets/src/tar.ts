import { DataFormatError } from '@eqprop/core';

/** One member of a tar archive; `data` is a view into the archive buffer. */
export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'other';
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function text(b: Uint8Array, start: number, length: number): string {
  const field = b.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

/** A numeric header field: octal text, or base-256 when the top bit of its first byte is set. */
function number(h: Uint8Array, start: number, length: number, what: string, offset: number): number {
  if (h[start] & 0x80) {
    let v = h[start] & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + h[start + i];
    return v;
  }
  const s = text(h, start, length).trim();
  if (!/^[0-7]*$/.test(s)) {
    throw new DataFormatError(`${what}: tar header at byte ${offset} has numeric field ${JSON.stringify(s)}, expected octal digits`);
  }
  return s === '' ? 0 : parseInt(s, 8);
}

/** The `path` record of a pax extended header, if any. */
function paxPath(data: Uint8Array): string | undefined {
  const records = decoder.decode(data).split('\n');
  for (const r of records) {
    const m = /^\d+ path=(.*)$/.exec(r);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Lists the members of an (uncompressed) tar archive: ustar, GNU long names and pax paths.
 * Checks each header's checksum and that each member lies inside the buffer.
 */
export function readTar(buf: Uint8Array, what: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | undefined;
  for (let off = 0; off + BLOCK <= buf.length; ) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break; // end-of-archive marker
    const stored = number(h, 148, 8, what, off);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (stored !== sum) {
      throw new DataFormatError(`${what}: tar header at byte ${off} has checksum ${stored}, expected ${sum} (not a tar file, or corrupt)`);
    }
    const size = number(h, 124, 12, what, off);
    const start = off + BLOCK;
    if (start + size > buf.length) {
      throw new DataFormatError(`${what}: tar member at byte ${off} claims ${size} bytes, only ${buf.length - start} remain (truncated)`);
    }
    const data = buf.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    const flag = String.fromCharCode(h[156]);
    if (flag === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (flag === 'g') continue;
    let name = text(h, 0, 100);
    const prefix = text(h, 257, 6) === 'ustar' ? text(h, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    entries.push({
      name: longName ?? name,
      type: flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : 'other',
      data,
    });
    longName = undefined;
  }
  return entries;
}
