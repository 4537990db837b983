// The end-to-end tests' shared pieces: the browser they drive, the static server for dist/, and
// where screenshots go. The browser: CHROMIUM_PATH if set, else the Chromium bundled in the npm
// package @sparticuz/chromium, else Debian's /usr/bin/chromium; with none, every suite is skipped
// and `pnpm test` names it.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';
import { bundledChromium } from '../../../scripts/bundled-chromium.mjs';
import { recordSkip } from '../../../scripts/test-skips.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
export const dist = resolve(here, '../dist');
export const shots = resolve(here, '../../../docs/screenshots');
export const SUITE = 'demo end-to-end (headless Chromium)';
export const browser = findBrowser();
if ('missing' in browser) recordSkip({ suite: SUITE, reason: browser.missing, command: 'CHROMIUM_PATH=/path/to/chromium pnpm --filter demo test' });

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

/** A static file server for dist/ on 127.0.0.1 (what any web host does). */
export function serve(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

type Browser = { executable: string; env: Record<string, string>; source: string } | { missing: string };

function findBrowser(): Browser {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? { executable: given, env: {}, source: 'CHROMIUM_PATH' } : { missing: `CHROMIUM_PATH=${given} does not exist` };
  const bundled = bundledChromium();
  if (!('missing' in bundled)) return { executable: bundled.executable, env: bundled.env, source: `@sparticuz/chromium ${bundled.version}` };
  if (existsSync('/usr/bin/chromium')) return { executable: '/usr/bin/chromium', env: {}, source: 'Debian chromium' };
  return { missing: `no browser: ${bundled.missing}, and /usr/bin/chromium does not exist` };
}

/**
 * The browser in a fresh profile: headless, offline (no background networking), plus `extra`
 * flags (no GPU for the wasm run; WebGPU on SwiftShader for the WebGPU run).
 */
export function launch(userDir: string, extra: string[], viewport?: { width: number; height: number }): Promise<BrowserContext> {
  if ('missing' in browser) throw new Error(browser.missing);
  const offline = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
  return chromium.launchPersistentContext(userDir, {
    executablePath: browser.executable,
    env: { ...process.env, ...browser.env },
    headless: true,
    args: ['--headless', '--no-sandbox', ...extra, ...offline],
    ...(viewport && { viewport }),
  });
}
