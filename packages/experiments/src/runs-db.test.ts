import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortForTest } from './free-port.test-util.js';
import { openRunsDb, type RunsDb, SCHEMA_VERSION } from './runs-db.js';
import { failure, scratchServer } from './test-server.js';

describe('runs database', () => {
  let url: string;
  let password: string;
  let db: RunsDb;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const s = await scratchServer('runsdb');
    cleanup = s.cleanup;
    url = s.server.url;
    password = decodeURIComponent(new URL(url).password);
    db = await openRunsDb(url);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await cleanup?.();
  });

  it('records a run, its epochs (idempotently) and its end, and lists it', async () => {
    const id = await db.recordRunStart({
      config: { preset: 'tiny', model: { sizes: [784, 20, 10] }, lrs: [0.1, 0.05] },
      codeRevision: 'a'.repeat(40),
      backend: 'wasm',
      adapter: null,
      machine: { hostname: 'h', cpus: 2 },
      runDir: '/runs/tiny-1',
    });
    await db.recordEpoch(id, 1, { trainError: 0.5, testError: 0.6 });
    await db.recordEpoch(id, 2, { trainError: 0.3, testError: Number.NaN });
    // a resumed run redoes epoch 2: the row is replaced, not doubled
    await db.recordEpoch(id, 2, { trainError: 0.3, testError: 0.4 });
    await db.recordRunEnd(id, { status: 'done', summary: { finalTestError: 0.4, epochs: 2 } });

    const run = await db.getRun(id);
    expect(run).toMatchObject({ id, status: 'done', backend: 'wasm', codeRevision: 'a'.repeat(40), runDir: '/runs/tiny-1', epochs: 2 });
    expect(run?.config).toEqual({ preset: 'tiny', model: { sizes: [784, 20, 10] }, lrs: [0.1, 0.05] });
    expect(run?.epochRows.map((e) => [e.epoch, e.metrics.testError])).toEqual([
      [1, 0.6],
      [2, 0.4],
    ]);
    expect(run?.summary).toEqual({ finalTestError: 0.4, epochs: 2 });
    expect((await db.listRuns()).map((r) => r.id)).toContain(id);
    expect(await db.findRunByDir('/runs/tiny-1')).toBe(id);
    expect(await db.getRun(id + 1000)).toBeUndefined();
  });

  it('keeps a failed run with one line of why, the password scrubbed', async () => {
    const id = await db.recordRunStart({ config: {}, codeRevision: null, backend: null });
    await db.recordRunEnd(id, { status: 'failed', error: `lost ${url}` });
    const run = await db.getRun(id);
    expect(run?.status).toBe('failed');
    expect(run?.error).not.toContain(password);
  });

  it('opens an up-to-date schema again without change', async () => {
    const again = await openRunsDb(url);
    await again.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const r = await c.query('SELECT version FROM eqprop_schema');
    await c.end();
    expect(r.rows).toEqual([{ version: SCHEMA_VERSION }]);
  });

  it('refuses a schema written by a newer eqprop in one line', async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query("UPDATE eqprop_schema SET version = 99, written_by = '@eqprop/experiments 9.0.0'");
      const e = await failure(openRunsDb(url));
      expect(e.name).toBe('DbSchemaError');
      expect(e.message).toMatch(/has schema version 99 \(written by @eqprop\/experiments 9\.0\.0\), newer than this eqprop's 3: upgrade eqprop/);
      expect(e.message).not.toContain('\n');
      expect(e.message).not.toContain(password);
    } finally {
      await c.query('UPDATE eqprop_schema SET version = $1', [SCHEMA_VERSION]);
      await c.end();
    }
  });

  it('a wrong password is one line without either password', async () => {
    const u = new URL(url);
    u.password = 'wrong-secret-123';
    const e = await failure(openRunsDb(u.toString()));
    expect(e.name).toBe('DbAuthError');
    expect(e.message).toMatch(/^the runs database at postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:\d+\/eqprop refused the password of user "eqprop"$/);
    expect(e.message).not.toContain('wrong-secret-123');
    expect(e.message).not.toContain(password);
  });

  it('a server that is down is one line', async () => {
    const u = new URL(url);
    u.port = String(await freePortForTest());
    const e = await failure(openRunsDb(u.toString(), { connectTimeout: 5 }));
    expect(e.name).toBe('DbConnectionError');
    expect(e.message).toMatch(/refused the connection: is the server running\?/);
    expect(e.message).not.toContain(password);
  });

  it('a wrong URL is one line each, never echoing the password', async () => {
    const cases: [string, RegExp][] = [
      [`http://eqprop:${password}@127.0.0.1/eqprop`, /must start with postgres:\/\/ or postgresql:\/\/, got "http:\/\/eqprop:\*\*\*@127\.0\.0\.1\/eqprop"/],
      [
        `postgres://eqprop:${password}@127.0.0.1:notaport/eqprop`,
        /must look like postgres:\/\/user:password@host:port\/database, got "postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:notaport\/eqprop"/,
      ],
      [url.replace(/\/eqprop$/, '/nope'), /: database "nope" does not exist$/],
      [url.replace(/:[^:@/]*@/, '@'), /asks for a password and the URL gives none/],
    ];
    for (const [bad, expected] of cases) {
      const e = await failure(openRunsDb(bad, { connectTimeout: 5 }));
      expect(e.message, bad.replace(password, '***')).toMatch(expected);
      expect(e.message).not.toContain('\n');
      expect(e.message).not.toContain(password);
    }
  });
});
