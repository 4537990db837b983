import { createRequire } from 'node:module';
import pg from 'pg';
import { DbAuthError, DbConnectionError, DbQueryError, DbSchemaError } from './errors.js';
import { redactText, redactUrl, urlPassword } from './redact.js';

/** The schema version this eqprop writes; a database at a higher version was written by a newer eqprop. */
export const SCHEMA_VERSION = 3;

/** Migration `i` takes the schema from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     created timestamptz NOT NULL DEFAULT now(),
     updated timestamptz NOT NULL DEFAULT now(),
     config jsonb NOT NULL,
     code_revision text,
     backend text,
     adapter jsonb,
     machine jsonb,
     run_dir text,
     status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
     summary jsonb,
     error text
   );
   CREATE INDEX runs_run_dir ON runs (run_dir);
   CREATE TABLE epochs (
     run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     epoch integer NOT NULL CHECK (epoch >= 0),
     metrics jsonb NOT NULL,
     recorded timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (run_id, epoch)
   );`,
  // 1 → 2: the job queue's view of each training job (pg-boss holds the queue itself, in schema
  // pgboss) and the checkpoint files of each job, where any worker can resume it
  `CREATE TABLE queue_jobs (
     key text PRIMARY KEY,
     job_id uuid NOT NULL UNIQUE,
     kind text NOT NULL DEFAULT 'train',
     seed integer,
     config jsonb NOT NULL,
     run_name text NOT NULL,
     status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
     worker text,
     run_id bigint REFERENCES runs (id) ON DELETE SET NULL,
     error text,
     checkpoint_seq integer,
     checkpoint_epoch integer,
     checkpoint_batch integer,
     created timestamptz NOT NULL DEFAULT now(),
     updated timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE checkpoint_files (
     job_key text NOT NULL REFERENCES queue_jobs (key) ON DELETE CASCADE,
     name text NOT NULL,
     data bytea NOT NULL,
     PRIMARY KEY (job_key, name)
   );`,
  // 2 → 3: sweeps through the queue: a sweep and its points (each point one job, shared by sweeps
  // that hold the same task), and one result row per point job (its primary key: never two)
  `CREATE TABLE sweeps (
     id text PRIMARY KEY,
     kind text NOT NULL,
     name text,
     spec jsonb NOT NULL,
     point_count integer NOT NULL,
     created timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE sweep_points (
     sweep_id text NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
     point_id text NOT NULL,
     position integer NOT NULL,
     job_key text NOT NULL REFERENCES queue_jobs (key),
     PRIMARY KEY (sweep_id, point_id)
   );
   CREATE TABLE point_results (
     job_key text PRIMARY KEY REFERENCES queue_jobs (key) ON DELETE CASCADE,
     result jsonb NOT NULL,
     seconds double precision,
     worker text NOT NULL,
     finished timestamptz NOT NULL DEFAULT now()
   );`,
];

export type RunStatus = 'running' | 'done' | 'failed';

export interface RunStart {
  config: unknown;
  /** `git rev-parse HEAD` of the code that ran, or null. */
  codeRevision: string | null;
  backend: string | null;
  adapter?: unknown;
  machine?: unknown;
  runDir?: string | null;
}

export interface RunEnd {
  status: Exclude<RunStatus, 'running'>;
  summary?: unknown;
  /** One line: why a failed run failed. */
  error?: string;
}

export interface RunRow {
  id: number;
  created: Date;
  updated: Date;
  config: Record<string, unknown>;
  codeRevision: string | null;
  backend: string | null;
  adapter: unknown;
  machine: Record<string, unknown> | null;
  runDir: string | null;
  status: RunStatus;
  summary: Record<string, unknown> | null;
  error: string | null;
  /** Epochs recorded. */
  epochs: number;
}

export interface EpochRow {
  epoch: number;
  metrics: Record<string, unknown>;
  recorded: Date;
}

export interface RunRecord extends RunRow {
  epochRows: EpochRow[];
}

export interface OpenOptions {
  /** Seconds to wait for a connection (default 10). */
  connectTimeout?: number;
}

/**
 * Connects to a runs database by URL, creating or migrating its schema. Every failure is one
 * line without the password: a malformed URL, a server that is down or unknown, a refused
 * password, a schema written by a newer eqprop.
 */
export async function openRunsDb(url: string, opts: OpenOptions = {}): Promise<RunsDb> {
  const safe = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DbConnectionError(`the runs database URL must look like postgres://user:password@host:port/database, got "${safe}"`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new DbConnectionError(`the runs database URL must start with postgres:// or postgresql://, got "${safe}"`);
  }
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: (opts.connectTimeout ?? 10) * 1000, idleTimeoutMillis: 10_000 });
  // an idle connection dropped by the server (a restart) is replaced on the next query, not a crash
  pool.on('error', () => {});
  const db = new RunsDb(pool, url);
  try {
    await db.migrate();
  } catch (e) {
    await pool.end().catch(() => {});
    throw e;
  }
  return db;
}

export class RunsDb {
  /** The URL with its password hidden, for messages. */
  readonly safeUrl: string;
  private readonly secret: string | undefined;

  constructor(
    private readonly pool: pg.Pool,
    url: string,
  ) {
    this.safeUrl = redactUrl(url);
    this.secret = urlPassword(url);
  }

  /** Creates the schema, or brings it up to {@link SCHEMA_VERSION}; refuses a newer one. */
  async migrate(): Promise<void> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      // concurrent first opens (several workers) migrate one at a time
      await client.query("SELECT pg_advisory_xact_lock(hashtext('eqprop-schema'))");
      await client.query(
        'CREATE TABLE IF NOT EXISTS eqprop_schema (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, written_by text, updated timestamptz NOT NULL DEFAULT now())',
      );
      const r = await client.query<{ version: number; written_by: string | null }>('SELECT version, written_by FROM eqprop_schema WHERE id = 1');
      const current = r.rows[0]?.version ?? 0;
      if (current > SCHEMA_VERSION) {
        throw new DbSchemaError(
          `the runs database at ${this.safeUrl} has schema version ${current}${r.rows[0].written_by ? ` (written by ${r.rows[0].written_by})` : ''}, newer than this eqprop's ${SCHEMA_VERSION}: upgrade eqprop (${writer()})`,
        );
      }
      for (let v = current; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]);
      if (current < SCHEMA_VERSION) {
        await client.query(
          'INSERT INTO eqprop_schema (id, version, written_by) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, written_by = EXCLUDED.written_by, updated = now()',
          [SCHEMA_VERSION, writer()],
        );
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.translate(e);
    } finally {
      client.release();
    }
  }

  /** Records a run as it starts (status `running`); returns its id. */
  async recordRunStart(run: RunStart): Promise<number> {
    const r = await this.query<{ id: string }>(
      'INSERT INTO runs (config, code_revision, backend, adapter, machine, run_dir) VALUES ($1::jsonb, $2, $3, $4::jsonb, $5::jsonb, $6) RETURNING id',
      [json(run.config), run.codeRevision, run.backend, json(run.adapter ?? null), json(run.machine ?? null), run.runDir ?? null],
    );
    return Number(r.rows[0].id);
  }

  /** Records (or replaces: a resumed run redoes an epoch) the metrics of one epoch. */
  async recordEpoch(runId: number, epoch: number, metrics: Record<string, unknown>): Promise<void> {
    await this.query(
      'INSERT INTO epochs (run_id, epoch, metrics) VALUES ($1, $2, $3::jsonb) ON CONFLICT (run_id, epoch) DO UPDATE SET metrics = EXCLUDED.metrics, recorded = now()',
      [runId, epoch, json(metrics)],
    );
    await this.query('UPDATE runs SET updated = now() WHERE id = $1', [runId]);
  }

  /** Marks a run done (with its summary) or failed (with one line of why). */
  async recordRunEnd(runId: number, end: RunEnd): Promise<void> {
    const r = await this.query('UPDATE runs SET status = $2, summary = $3::jsonb, error = $4, updated = now() WHERE id = $1', [
      runId,
      end.status,
      json(end.summary ?? null),
      end.error === undefined ? null : redactText(end.error, [this.secret]),
    ]);
    if (r.rowCount === 0) throw new DbQueryError(`no run ${runId} in the runs database at ${this.safeUrl}`);
  }

  /** Marks a run running again (a resume). */
  async reopenRun(runId: number): Promise<void> {
    await this.query("UPDATE runs SET status = 'running', error = NULL, updated = now() WHERE id = $1", [runId]);
  }

  /** The latest run recorded for a run folder (to continue its record on resume). */
  async findRunByDir(runDir: string): Promise<number | undefined> {
    const r = await this.query<{ id: string }>('SELECT id FROM runs WHERE run_dir = $1 ORDER BY id DESC LIMIT 1', [runDir]);
    return r.rows[0] ? Number(r.rows[0].id) : undefined;
  }

  /** Runs, newest first. */
  async listRuns(opts: { limit?: number } = {}): Promise<RunRow[]> {
    const r = await this.query(`${RUN_SELECT} ORDER BY r.id DESC LIMIT $1`, [opts.limit ?? 50]);
    return r.rows.map(toRun);
  }

  /** One run with its epochs, or undefined. */
  async getRun(id: number): Promise<RunRecord | undefined> {
    const r = await this.query(`${RUN_SELECT} WHERE r.id = $1`, [id]);
    if (!r.rows[0]) return undefined;
    const e = await this.query<{ epoch: number; metrics: Record<string, unknown>; recorded: Date }>(
      'SELECT epoch, metrics, recorded FROM epochs WHERE run_id = $1 ORDER BY epoch',
      [id],
    );
    return { ...toRun(r.rows[0]), epochRows: e.rows };
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }

  /** Runs `fn` in one transaction on one connection (rolled back if it throws). */
  async transaction<T>(fn: (q: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      const out = await fn((sql, params = []) => client.query(sql, params));
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.translate(e);
    } finally {
      client.release();
    }
  }

  /** The password of the URL (to scrub messages of other clients on the same database). */
  get secretForRedaction(): string | undefined {
    return this.secret;
  }

  /**
   * A client of the pool for several statements. pg emits a lost connection (a server restart) on
   * a checked-out client as an 'error' event that would crash the process with no listener: the
   * listener is added here and removed on release; the statement in flight still rejects.
   */
  private async connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.translate(e);
    }
    const ignore = () => {};
    client.on('error', ignore);
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      client.removeListener('error', ignore);
      return release(err);
    };
    return client;
  }

  /** One statement on the pool; errors come back as one redacted line. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (e) {
      throw this.translate(e);
    }
  }

  /** A driver or server error as one line that names the (redacted) URL and never the password. */
  private translate(e: unknown): Error {
    if (e instanceof DbSchemaError || e instanceof DbQueryError || e instanceof DbAuthError || e instanceof DbConnectionError) return e;
    const err = e as { code?: string; message?: string };
    const msg = oneLine(redactText(String(err.message ?? e), [this.secret]));
    const at = `the runs database at ${this.safeUrl}`;
    let user = '';
    let database = '';
    let host = '';
    try {
      const u = new URL(this.safeUrl);
      user = decodeURIComponent(u.username);
      database = decodeURIComponent(u.pathname.slice(1)) || user;
      host = u.hostname;
    } catch {
      /* safeUrl came from a URL that parsed */
    }
    switch (err.code) {
      case 'ECONNREFUSED':
        return new DbConnectionError(`${at} refused the connection: is the server running? (\`eqprop db start\` starts the embedded one)`);
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new DbConnectionError(`${at}: host "${host}" not found`);
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return new DbConnectionError(`${at} cannot be reached (${err.code})`);
      case '28P01':
        return new DbAuthError(`${at} refused the password of user "${user}"`);
      case '28000':
        return new DbAuthError(`${at} refused user "${user}": ${msg}`);
      case '3D000':
        return new DbConnectionError(`${at}: database "${database}" does not exist`);
      case '57P01':
      case '57P03':
        return new DbConnectionError(`${at} is shutting down or starting up: try again`);
    }
    if (/timeout/i.test(msg)) return new DbConnectionError(`${at} did not answer in time`);
    if (/SASL|client password must be a string/i.test(msg)) return new DbAuthError(`${at} asks for a password and the URL gives none for user "${user}"`);
    if (/Connection terminated|ECONNRESET/i.test(msg)) return new DbConnectionError(`${at} closed the connection: ${msg}`);
    return new DbQueryError(`${at}: ${msg}`);
  }
}

const RUN_SELECT = `SELECT r.id, r.created, r.updated, r.config, r.code_revision, r.backend, r.adapter, r.machine, r.run_dir, r.status, r.summary, r.error,
  (SELECT count(*) FROM epochs e WHERE e.run_id = r.id)::integer AS epochs FROM runs r`;

function toRun(row: Record<string, unknown>): RunRow {
  return {
    id: Number(row.id),
    created: row.created as Date,
    updated: row.updated as Date,
    config: row.config as Record<string, unknown>,
    codeRevision: row.code_revision as string | null,
    backend: row.backend as string | null,
    adapter: row.adapter,
    machine: row.machine as Record<string, unknown> | null,
    runDir: row.run_dir as string | null,
    status: row.status as RunStatus,
    summary: row.summary as Record<string, unknown> | null,
    error: row.error as string | null,
    epochs: row.epochs as number,
  };
}

/** JSON for a jsonb parameter (pg would turn a JS array into a Postgres array). NaN and ±Inf become null. */
function json(v: unknown): string {
  return JSON.stringify(v ?? null);
}

function oneLine(s: string): string {
  return s.split('\n')[0].trim();
}

function writer(): string {
  try {
    const pkg = createRequire(import.meta.url)('../package.json') as { name: string; version: string };
    return `${pkg.name} ${pkg.version}`;
  } catch {
    return '@eqprop/experiments';
  }
}
