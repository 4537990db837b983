import { inflateSync } from 'node:zlib';
import { DataFormatError } from '@eqprop/core';
import { MAX_GUNZIP_BYTES } from './gzip.js';

/** A real numeric MATLAB array: its class, dimensions (column-major, as MATLAB gives them) and values. */
export interface MatArray {
  /** 'uint8', 'double', ... (the mxClass of its array flags). */
  className: string;
  dims: number[];
  /** The values in column-major order; a view into the file for uint8 data, else converted to numbers. */
  data: Uint8Array | Float64Array;
}

const HEADER = 128;
const MI_INT8 = 1;
const MI_INT32 = 5;
const MI_UINT32 = 6;
const MI_MATRIX = 14;
const MI_COMPRESSED = 15;
/** Numeric data types: bytes per value and how to read one (little-endian). */
const MI_NUMERIC: Record<number, { bytes: number; read: (v: DataView, at: number) => number }> = {
  1: { bytes: 1, read: (v, at) => v.getInt8(at) },
  2: { bytes: 1, read: (v, at) => v.getUint8(at) },
  3: { bytes: 2, read: (v, at) => v.getInt16(at, true) },
  4: { bytes: 2, read: (v, at) => v.getUint16(at, true) },
  5: { bytes: 4, read: (v, at) => v.getInt32(at, true) },
  6: { bytes: 4, read: (v, at) => v.getUint32(at, true) },
  7: { bytes: 4, read: (v, at) => v.getFloat32(at, true) },
  9: { bytes: 8, read: (v, at) => v.getFloat64(at, true) },
};
const MX_CLASSES: Record<number, string> = { 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32' };
const MI_UINT8 = 2;

/** One data element: its type and its bytes (the small format packs up to 4 bytes into the tag). */
interface Element {
  type: number;
  data: Uint8Array;
  /** Offset of the next element. */
  next: number;
}

function element(buf: Uint8Array, at: number, what: string): Element {
  if (at + 8 > buf.length) throw new DataFormatError(`${what}: data element at byte ${at} cut off (file of ${buf.length} bytes; truncated?)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const first = view.getUint32(at, true);
  if (first >>> 16 !== 0) {
    const size = first >>> 16;
    if (size > 4) throw new DataFormatError(`${what}: small data element at byte ${at} claims ${size} bytes, expected at most 4`);
    return { type: first & 0xffff, data: buf.subarray(at + 4, at + 4 + size), next: at + 8 };
  }
  const size = view.getUint32(at + 4, true);
  if (size > buf.length - at - 8) {
    throw new DataFormatError(`${what}: data element at byte ${at} claims ${size} bytes, only ${buf.length - at - 8} follow (truncated or corrupt)`);
  }
  // compressed elements are not padded; all others end on an 8-byte boundary
  const end = at + 8 + size;
  return { type: first, data: buf.subarray(at + 8, end), next: first === MI_COMPRESSED ? end : Math.min(buf.length, end + ((8 - (size % 8)) % 8)) };
}

/** Reads one miMATRIX element; undefined for what is not a real numeric array (cells, structs, sparse, complex). */
function matrix(buf: Uint8Array, what: string): { name: string; array: MatArray } | undefined {
  const flags = element(buf, 0, what);
  if (flags.type !== MI_UINT32 || flags.data.length !== 8)
    throw new DataFormatError(`${what}: array flags of type ${flags.type}, expected miUINT32 (6) of 8 bytes`);
  const mxClass = flags.data[0];
  const complex = (flags.data[1] & 0x08) !== 0;
  const dimsEl = element(buf, flags.next, what);
  if (dimsEl.type !== MI_INT32 || dimsEl.data.length % 4 !== 0 || dimsEl.data.length < 8) {
    throw new DataFormatError(`${what}: array dimensions of type ${dimsEl.type} (${dimsEl.data.length} bytes), expected miINT32 with at least 2 dimensions`);
  }
  const dv = new DataView(dimsEl.data.buffer, dimsEl.data.byteOffset, dimsEl.data.byteLength);
  const dims = Array.from({ length: dimsEl.data.length / 4 }, (_, i) => dv.getInt32(4 * i, true));
  if (dims.some((d) => d < 0)) throw new DataFormatError(`${what}: array dimensions [${dims.join(', ')}], expected none negative`);
  const nameEl = element(buf, dimsEl.next, what);
  if (nameEl.type !== MI_INT8) throw new DataFormatError(`${what}: array name of type ${nameEl.type}, expected miINT8 (1)`);
  const name = new TextDecoder().decode(nameEl.data);
  const className = MX_CLASSES[mxClass];
  if (!className || complex) return undefined;
  const real = element(buf, nameEl.next, `${what} (array ${name})`);
  const numeric = MI_NUMERIC[real.type];
  if (!numeric) throw new DataFormatError(`${what}: array ${name} has data of type ${real.type}, expected a numeric MAT type`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count * numeric.bytes !== real.data.length) {
    throw new DataFormatError(`${what}: array ${name} of dimensions [${dims.join(', ')}] needs ${count * numeric.bytes} data bytes, found ${real.data.length}`);
  }
  if (real.type === MI_UINT8) return { name, array: { className, dims, data: real.data } };
  const view = new DataView(real.data.buffer, real.data.byteOffset, real.data.byteLength);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = numeric.read(view, i * numeric.bytes);
  return { name, array: { className, dims, data } };
}

/**
 * The real numeric arrays named `names` in a MATLAB v5 MAT-file (little-endian, as MATLAB writes
 * on every current platform), compressed (miCOMPRESSED, zlib) or not; other variables are skipped.
 * Checks the header, every element's size against the bytes that follow, and each array's
 * dimensions against its data; a compressed element may inflate to at most `maxInflateBytes`.
 */
export function parseMat(buf: Uint8Array, what: string, names: string[], maxInflateBytes = MAX_GUNZIP_BYTES): Record<string, MatArray> {
  if (buf.length < HEADER) throw new DataFormatError(`${what}: ${buf.length} bytes, expected at least the 128-byte MAT-file header`);
  const text = new TextDecoder('latin1').decode(buf.subarray(0, 10));
  const endian = String.fromCharCode(buf[126], buf[127]);
  if (!text.startsWith('MATLAB 5.0') || (endian !== 'IM' && endian !== 'MI')) {
    throw new DataFormatError(
      `${what}: header starts ${JSON.stringify(text)} with endian mark ${JSON.stringify(endian)}, expected a MATLAB 5.0 MAT-file (is this a .mat file? v7.3 files are HDF5)`,
    );
  }
  if (endian === 'MI') throw new DataFormatError(`${what}: big-endian MAT-file, expected little-endian (endian mark IM)`);
  const found: Record<string, MatArray> = {};
  for (let at = HEADER; at < buf.length; ) {
    const el = element(buf, at, what);
    let body = el;
    if (el.type === MI_COMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(el.data, { maxOutputLength: maxInflateBytes });
      } catch (e) {
        const tooBig = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        throw new DataFormatError(
          tooBig
            ? `${what}: compressed element at byte ${at} inflates to more than ${maxInflateBytes} bytes, the most allowed; stopped there`
            : `${what}: compressed element at byte ${at} is corrupt (${(e as Error).message.split('\n')[0]}), expected a zlib stream`,
        );
      }
      body = element(inflated, 0, `${what} (element at byte ${at})`);
    }
    if (body.type === MI_MATRIX) {
      const m = matrix(body.data, `${what} (element at byte ${at})`);
      if (m && names.includes(m.name)) found[m.name] = m.array;
    }
    at = el.next;
  }
  const missing = names.filter((n) => !(n in found));
  if (missing.length > 0) throw new DataFormatError(`${what}: no real numeric array ${missing.join(', ')}, expected variables ${names.join(', ')}`);
  return found;
}
