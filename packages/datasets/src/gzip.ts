import { gunzipSync } from 'node:zlib';
import { DataFormatError } from '@eqprop/core';

/**
 * Most bytes a gzipped data file may inflate to: 256 MiB, above the largest file read here (the
 * CIFAR-10 binary tar, 184 MB; MNIST's training images are 47 MB). A small corrupt or hostile file
 * (a gzip bomb) stops there instead of exhausting memory. Pass `maxBytes` to allow more.
 */
export const MAX_GUNZIP_BYTES = 256 * 2 ** 20;

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/**
 * `buf` itself, or its gunzipped contents when it starts with the gzip magic 1f 8b. Inflation is
 * streamed in 16 KiB chunks and stops at the first chunk past `maxBytes` (zlib's
 * `maxOutputLength`): the whole output of a bomb is never allocated.
 */
export function maybeGunzip(buf: Uint8Array, what: string, maxBytes = MAX_GUNZIP_BYTES): Uint8Array {
  if (!isGzip(buf)) return buf;
  try {
    return gunzipSync(buf, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataFormatError(
        `${what}: gzip data inflates to more than ${maxBytes} bytes, the most a data file may hold; stopped there (a gzip bomb, or not a data file)`,
      );
    }
    const reason = (e as Error).message.split('\n')[0];
    throw new DataFormatError(`${what}: corrupt gzip data (${reason}), expected a valid gzip stream`);
  }
}
