import { DataFormatError } from '@eqprop/core';
import { type Dataset, resolveLimit } from './dataset.js';
import { MAX_GUNZIP_BYTES, maybeGunzip } from './gzip.js';
import { readFileOrThrow, readFileOrThrowAsync } from './read-file.js';

/** An IDX array of unsigned bytes: its dimensions and its data (a view into the parsed buffer). */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;
const MAX_DIMS = 4;

const hex = (v: number, digits = 8) => `0x${v.toString(16).padStart(digits, '0')}`;

/**
 * Parses an IDX file of unsigned bytes (MNIST format), gunzipping it first when it starts with
 * 1f 8b. Checks the magic number (0x00000803 for images, 0x00000801 for labels), the data type
 * 0x08, the number of dimensions (`expectDims` when given, else 1 to 4) and that the dimensions
 * describe exactly the bytes that follow the header, before anything is allocated. A gzipped file
 * may inflate to at most `maxGunzipBytes` (MAX_GUNZIP_BYTES, 256 MiB, by default).
 */
export function parseIdx(buf: Uint8Array, what: string, expectDims?: number, maxGunzipBytes = MAX_GUNZIP_BYTES): IdxArray {
  buf = maybeGunzip(buf, what, maxGunzipBytes);
  if (buf.length < 4) {
    throw new DataFormatError(`${what}: ${buf.length} bytes, expected at least a 4-byte IDX header`);
  }
  const magic = ((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) >>> 0;
  const ndims = buf[3];
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new DataFormatError(`${what}: magic number ${hex(magic)}, expected an IDX magic 0x000008NN (is this an IDX file?)`);
  }
  if (buf[2] !== UBYTE) {
    throw new DataFormatError(`${what}: IDX data type ${hex(buf[2], 2)} in magic ${hex(magic)}, expected 0x08 (unsigned byte)`);
  }
  if (expectDims !== undefined ? ndims !== expectDims : ndims < 1 || ndims > MAX_DIMS) {
    const expected = expectDims !== undefined ? hex(0x800 + expectDims) : `1 to ${MAX_DIMS} dimensions`;
    throw new DataFormatError(`${what}: magic number ${hex(magic)} (${ndims} dimension${ndims === 1 ? '' : 's'}), expected ${expected}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new DataFormatError(`${what}: ${buf.length} bytes, shorter than its ${headerBytes}-byte IDX header (truncated?)`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1); // a double: exact below 2^53, and never equal to a small length above it
  const actual = buf.length - headerBytes;
  if (expected !== actual) {
    throw new DataFormatError(`${what}: dimensions [${dims.join(', ')}] need ${expected} data bytes, found ${actual} (truncated or corrupt)`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/**
 * Builds a Dataset from parsed IDX images [count, rows, cols] and labels [count]: equal counts,
 * labels below `numClasses`, pixels scaled from 0..255 to [0, 1]. Keeps the first `limit` examples.
 */
export function idxToDataset(
  images: IdxArray,
  labels: IdxArray,
  name: string,
  numClasses = 10,
  limit?: number,
  files: { images: string; labels: string } = { images: `${name} images`, labels: `${name} labels` },
): Dataset {
  if (images.dims.length !== 3) {
    throw new DataFormatError(`${files.images}: ${images.dims.length}-D IDX array, expected 3-D images [count, rows, cols]`);
  }
  if (labels.dims.length !== 1) {
    throw new DataFormatError(`${files.labels}: ${labels.dims.length}-D IDX array, expected 1-D labels [count]`);
  }
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DataFormatError(`${files.labels}: ${labels.dims[0]} labels for ${count} images in ${files.images}, expected equal counts`);
  }
  if (rows === 0 || cols === 0) {
    throw new DataFormatError(`${files.images}: image size ${rows}×${cols}, expected positive dimensions`);
  }
  const n = resolveLimit(limit, count);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i];
    if (label >= numClasses) {
      throw new DataFormatError(`${files.labels}: label ${label} at index ${i}, expected 0..${numClasses - 1}`);
    }
    out[i] = label;
  }
  const size = rows * cols;
  const pixels = new Float32Array(n * size);
  const src = images.data;
  for (let i = 0; i < pixels.length; i++) pixels[i] = src[i] / 255;
  return { name, images: pixels, labels: out, count: n, exampleShape: [rows, cols, 1], numClasses };
}

/** Reads an IDX images file and its labels file (raw or gzipped) into a Dataset. */
export function loadIdxPair(imagesPath: string, labelsPath: string, name: string, numClasses = 10): Dataset {
  const images = parseIdx(readFileOrThrow(imagesPath), imagesPath, 3);
  const labels = parseIdx(readFileOrThrow(labelsPath), labelsPath, 1);
  return idxToDataset(images, labels, name, numClasses, undefined, { images: imagesPath, labels: labelsPath });
}

/** Async `loadIdxPair` that keeps only the first `limit` examples. */
export async function readIdxPair(imagesPath: string, labelsPath: string, name: string, numClasses = 10, limit?: number): Promise<Dataset> {
  const [imageBuf, labelBuf] = await Promise.all([readFileOrThrowAsync(imagesPath), readFileOrThrowAsync(labelsPath)]);
  const images = parseIdx(imageBuf, imagesPath, 3);
  const labels = parseIdx(labelBuf, labelsPath, 1);
  return idxToDataset(images, labels, name, numClasses, limit, { images: imagesPath, labels: labelsPath });
}
