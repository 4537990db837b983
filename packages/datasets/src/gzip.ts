import { gunzipSync } from 'node:zlib';
import { DataFormatError } from '@eqprop/core';

/** Largest output a gunzip may produce (guards against a small corrupt file expanding without bound). */
export const MAX_GUNZIP_BYTES = 1 << 30;

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** `buf` itself, or its gunzipped contents when it starts with the gzip magic 1f 8b. */
export function maybeGunzip(buf: Uint8Array, what: string, maxBytes = MAX_GUNZIP_BYTES): Uint8Array {
  if (!isGzip(buf)) return buf;
  try {
    return gunzipSync(buf, { maxOutputLength: maxBytes });
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0];
    throw new DataFormatError(`${what}: corrupt gzip data (${reason}), expected a valid gzip stream`);
  }
}
