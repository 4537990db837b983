// Helpers for this package's tests (not exported from index.ts).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An IDX file of unsigned bytes with the given dimensions. */
export function makeIdx(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x800 + dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** CIFAR-10 records: label, then R, G, B planes; pixel(n, channel, position) gives each byte. */
export function makeCifar(labels: number[], pixel: (n: number, c: number, p: number) => number): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, n) => {
    out[n * 3073] = l;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[n * 3073 + 1 + c * 1024 + p] = pixel(n, c, p);
  });
  return out;
}

/** CIFAR-100 records: coarse label, fine label, then R, G, B planes; pixel(n, channel, position) gives each byte. */
export function makeCifar100(labels: [coarse: number, fine: number][], pixel: (n: number, c: number, p: number) => number): Uint8Array {
  const out = new Uint8Array(labels.length * 3074);
  labels.forEach(([coarse, fine], n) => {
    out[n * 3074] = coarse;
    out[n * 3074 + 1] = fine;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[n * 3074 + 2 + c * 1024 + p] = pixel(n, c, p);
  });
  return out;
}

/** A ustar archive of regular files (names up to 100 bytes). */
export function writeTar(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  const field = (h: Uint8Array, at: number, s: string) => h.set(enc.encode(s), at);
  for (const f of files) {
    const h = new Uint8Array(512);
    field(h, 0, f.name);
    field(h, 100, '0000644\0');
    field(h, 108, '0000000\0');
    field(h, 116, '0000000\0');
    field(h, 124, `${f.data.length.toString(8).padStart(11, '0')}\0`);
    field(h, 136, '00000000000\0');
    field(h, 148, '        ');
    h[156] = '0'.charCodeAt(0);
    field(h, 257, 'ustar\0');
    field(h, 263, '00');
    const sum = h.reduce((a, b) => a + b, 0);
    field(h, 148, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h);
    const body = new Uint8Array(Math.ceil(f.data.length / 512) * 512);
    body.set(f.data);
    blocks.push(body);
  }
  blocks.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(blocks)); // a plain copy: Buffer.slice would share memory
}

export const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'eqprop-datasets-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An HTTP server on 127.0.0.1 serving `routes` (path → bytes, or path → redirect target). */
export async function serve(routes: Record<string, Uint8Array | { redirect: string }>) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    hits.push(path);
    const r = routes[path];
    if (!r) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    } else if (r instanceof Uint8Array) {
      res.writeHead(200, { 'content-length': r.length }).end(r);
    } else {
      res.writeHead(302, { location: r.redirect }).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
