import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ConfigError, DataFormatError, EqpropError } from '@eqprop/core';
import { DownloadError } from './errors.js';

export interface DownloadFileOptions {
  md5?: string;
  sha256?: string;
  onProgress?: (bytes: number, total?: number) => void;
  /** Give up when the connection is idle this long (default 60 000 ms). */
  timeoutMs?: number;
  /** Most redirects followed (default 10). */
  maxRedirects?: number;
}

/**
 * Downloads `url` (http or https, following redirects) to `dest`: the bytes go to a temporary
 * file beside `dest`, the checksums are verified, and only then is it renamed onto `dest`. On any
 * failure nothing is left behind. A status other than 200 is a DownloadError; a checksum
 * mismatch is a DataFormatError.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadFileOptions = {}): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}-${randomBytes(4).toString('hex')}.part`;
  try {
    const res = await get(url, opts.maxRedirects ?? 10, opts.timeoutMs ?? 60_000);
    const total = Number(res.headers['content-length']) || undefined;
    const md5 = opts.md5 ? createHash('md5') : undefined;
    const sha256 = opts.sha256 ? createHash('sha256') : undefined;
    let bytes = 0;
    await pipeline(
      res,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          md5?.update(chunk);
          sha256?.update(chunk);
          opts.onProgress?.(bytes, total);
          yield chunk;
        }
      },
      createWriteStream(tmp),
    );
    if (total !== undefined && bytes !== total) {
      throw new DownloadError(`GET ${url}: received ${bytes} bytes, expected ${total} (connection cut off)`);
    }
    for (const [algo, hash, want] of [
      ['md5', md5, opts.md5],
      ['sha256', sha256, opts.sha256],
    ] as const) {
      if (!hash || !want) continue;
      const got = hash.digest('hex');
      if (got !== want.toLowerCase()) {
        throw new DataFormatError(`${url}: ${algo} ${got}, expected ${want.toLowerCase()} (corrupt or wrong file, not saved)`);
      }
    }
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof EqpropError) throw e;
    throw new DownloadError(`GET ${url} failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The 200 response for `url`, after following redirects. */
function get(url: string, redirectsLeft: number, timeoutMs: number): Promise<http.IncomingMessage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new ConfigError(`download URL "${url}" is not a valid URL`));
  }
  const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
  if (!client) {
    return Promise.reject(new ConfigError(`download URL "${url}" has protocol ${parsed.protocol}, expected http: or https:`));
  }
  return new Promise((resolve, reject) => {
    const req = client.get(parsed, { headers: { 'user-agent': 'eqprop-datasets' } }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirectsLeft <= 0) {
          reject(new DownloadError(`GET ${url}: too many redirects (last to ${location})`));
          return;
        }
        get(new URL(location, parsed).href, redirectsLeft - 1, timeoutMs).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new DownloadError(`${`GET ${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd()}, expected 200`));
        return;
      }
      resolve(res);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new DownloadError(`GET ${url}: no data for ${timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof EqpropError ? e : new DownloadError(`GET ${url} failed: ${e.message.split('\n')[0]}`)));
  });
}
