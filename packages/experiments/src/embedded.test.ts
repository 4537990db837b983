import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedRunning, embeddedUrl, STATE_FILE, startEmbedded, stopEmbedded } from './embedded.js';
import { openRunsDb } from './runs-db.js';
import { failure, scratchServer } from './test-server.js';

describe('embedded PostgreSQL server', () => {
  let dir: string;
  let url: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const s = await scratchServer('embedded');
    ({ dir, cleanup } = s);
    url = s.server.url;
    expect(s.server.created).toBe(true);
    // the measured cost of a first start (initdb + start + CREATE DATABASE)
    console.log(`embedded server: first start ${s.server.seconds.toFixed(2)} s`);
  }, 60_000);
  afterAll(async () => cleanup?.());

  it('keeps its state file private (0600) and gives its URL', () => {
    expect(statSync(join(dir, STATE_FILE)).mode & 0o777).toBe(0o600);
    expect(embeddedUrl(dir)).toBe(url);
    expect(url).toMatch(/^postgres:\/\/eqprop:[^@]+@127\.0\.0\.1:\d+\/eqprop$/);
  });

  it('keeps its data across stop and start, on the same port, and a RunsDb reconnects', async () => {
    const db = await openRunsDb(url);
    try {
      const id = await db.recordRunStart({ config: { preset: 'kept' }, codeRevision: null, backend: 'cpu' });
      expect(await stopEmbedded(dir)).toBe(true);
      expect(await embeddedRunning(dir)).toBe(false);
      expect(await stopEmbedded(dir)).toBe(false);
      // down: one line that says so, without the password
      const down = await failure(openRunsDb(url, { connectTimeout: 5 }));
      expect(down.message).toMatch(/^the runs database at postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:\d+\/eqprop refused the connection/);
      expect(down.message).not.toContain('\n');
      const t0 = performance.now();
      const again = await startEmbedded({ dir });
      console.log(`embedded server: restart ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      expect(again).toMatchObject({ started: true, created: false, url });
      // the pool of the open RunsDb drops its dead connections and connects anew
      expect((await db.getRun(id))?.config).toEqual({ preset: 'kept' });
      const running = await startEmbedded({ dir });
      expect(running).toMatchObject({ started: false, created: false, url });
    } finally {
      await db.close();
    }
  });

  it('writes the password to no log', () => {
    const password = new URL(url).password;
    expect(readFileSync(join(dir, 'server.log'), 'utf8')).not.toContain(password);
  });

  it('says in one line when a folder has no server', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'eqprop-nodb-'));
    try {
      expect(() => embeddedUrl(empty)).toThrow(/^no embedded server in .*eqprop db start --dir/);
      const e = await failure(stopEmbedded(empty));
      expect(e.message).toMatch(/^no embedded server in /);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it.runIf(process.getuid?.() === 0)('as root: a folder the postgres user cannot reach is one line naming the blocker', async () => {
    // mkdtemp makes a 0700 folder owned by root: closed to the server's user
    const closed = mkdtempSync(join(tmpdir(), 'eqprop-closed-'));
    try {
      const e = await failure(startEmbedded({ dir: join(closed, 'db') }));
      expect(e.name).toBe('EmbeddedServerError');
      expect(e.message).toContain(`${closed} (mode 700, owner uid 0) is closed to it`);
      expect(e.message).not.toContain('\n');
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
