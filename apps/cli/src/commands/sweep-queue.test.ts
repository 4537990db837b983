// Sweeps through the job queue, end to end through the built CLI on a real embedded Postgres: a
// 12-point β sweep of a tiny network queued with `eqprop sweep beta --db`, computed by 3
// `eqprop worker` processes of which one is SIGKILLed and one SIGTERMed mid-point; every point is
// stored once and the results equal the same sweep run locally. Then a worker pool
// (`--workers 2`) that lives through a restart of the database.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobKey, openQueue, openRunsDb, type RunsDb } from '@eqprop/experiments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const BETAS = [1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 7e-3, 1e-2, 1.5e-2, 2e-2, 3e-2, 5e-2, 1e-1];
// a tiny network whose points take about a second each, so a worker can be caught mid-point
const SWEEP = [
  'sweep',
  'beta',
  '--preset',
  'ernoult2019-p1h',
  '--layers',
  '784,32,10',
  '--batches',
  '2',
  '--batch-size',
  '16',
  '--sweep-free-steps',
  '1500',
  '--sweep-nudged-steps',
  '1000',
];

interface Proc {
  p: ChildProcess;
  out: string;
  err: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every number of two JSON values, side by side (keys sorted: jsonb reorders them). */
function numbers(v: unknown, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (v && typeof v === 'object') for (const k of Object.keys(v).sort()) numbers((v as Record<string, unknown>)[k], `${path}.${k}`, out);
  else out.set(path, v);
  return out;
}

describe('eqprop sweep --db: sweep points on the job queue', () => {
  let parent: string;
  let dbDir: string;
  let url: string;
  let password: string;
  let db: RunsDb;
  const env = (db = '') => ({ ...process.env, EQPROP_DB: db });
  const cli = (args: string[], timeout = 120_000, db = '') => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout, env: env(db), cwd: parent });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const start = (args: string[]): Proc => {
    const p = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env(), cwd: parent });
    const proc: Proc = { p, out: '', err: '', exit: new Promise((res) => p.on('exit', (code, signal) => res({ code, signal }))) };
    p.stdout!.on('data', (d) => (proc.out += d));
    p.stderr!.on('data', (d) => (proc.err += d));
    return proc;
  };
  const betas = BETAS.join(',');
  /** A process's exit, or a failure that shows what every process said. */
  const exitOf = async (p: Proc, all: Proc[], ms = 90_000) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, rej) => {
      timer = setTimeout(
        () => rej(new Error(`pid ${p.p.pid} still running after ${ms} ms:\n${all.map((x) => `--- ${x.p.pid}\n${x.out}${x.err}`).join('\n')}`)),
        ms,
      );
    });
    try {
      return await Promise.race([p.exit, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  beforeAll(async () => {
    expect(existsSync(cliPath)).toBe(true);
    parent = mkdtempSync(join(tmpdir(), 'eqprop-sweep-queue-'));
    chmodSync(parent, 0o711); // the postgres user passes through it when the tests run as root
    dbDir = join(parent, 'db');
    expect(cli(['db', 'start', '--dir', dbDir]).code).toBe(0);
    url = cli(['db', 'url', '--dir', dbDir]).stdout.trim();
    password = new URL(url).password;
    db = await openRunsDb(url);
    // the reference: the same sweep, local
    const local = cli([...SWEEP, '--betas', betas, '--workers', '2', '--out', 'local']);
    expect(local.code, local.stderr).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await db?.close();
    cli(['db', 'stop', '--dir', dbDir]);
    rmSync(parent, { recursive: true, force: true });
  });

  it('12 points on 3 workers, one SIGKILLed and one SIGTERMed mid-point: each point stored once, equal to the local sweep', { timeout: 240_000 }, async () => {
    const q1 = cli([...SWEEP, '--betas', betas, '--db', url, '--detach', '--out', 'queued']);
    expect(q1.stderr).toBe('');
    const id = q1.stdout.match(/sweep ([0-9a-f]{12}): 12 of 12 point\(s\) queued/)?.[1];
    expect(id, q1.stdout).toBeDefined();
    // idempotent: the same sweep queues nothing new
    expect(cli([...SWEEP, '--betas', betas, '--db', url, '--detach']).stdout).toContain(`sweep ${id}: 0 of 12 point(s) queued`);

    const waiter = start([...SWEEP, '--betas', betas, '--db', url, '--out', 'queued']);
    const workers = ['a', 'b', 'c'].map((w) => start(['worker', '--db', url, '--dir', `w-${w}`, '--heartbeat', '2', '--idle-exit', '5']));
    const holding = async (exclude: Proc[]) => {
      const r = await db.query("SELECT worker, run_name FROM queue_jobs WHERE kind = 'point' AND status = 'running'");
      for (const row of r.rows) {
        const w = workers.find((x) => !exclude.includes(x) && row.worker.includes(`:${x.p.pid}:`));
        if (w) return { w, point: row.run_name as string, worker: row.worker as string };
      }
      return undefined;
    };
    const t0 = Date.now();
    let killed: { w: Proc; point: string; worker: string } | undefined;
    let termed: { w: Proc; point: string; worker: string } | undefined;
    while (!(killed && termed) && Date.now() - t0 < 90_000) {
      // mid-point: the worker holds a job that it has not stored yet
      const h = await holding([killed?.w, termed?.w].filter(Boolean) as Proc[]);
      if (h && !killed) {
        h.w.p.kill('SIGKILL');
        killed = h;
      } else if (h && killed && (await db.query('SELECT 1 FROM point_results WHERE job_key = $1', [jobKeyOf(h.point)])).rowCount === 0) {
        h.w.p.kill('SIGTERM');
        termed = h;
      } else await new Promise((res) => setTimeout(res, 20));
    }
    expect(killed && termed, workers.map((w) => w.out).join('\n')).toBeTruthy();
    console.log(`sweep queue test: SIGKILL during ${killed!.point}, SIGTERM during ${termed!.point}`);
    const all = [waiter, ...workers];
    expect((await exitOf(killed!.w, all)).signal).toBe('SIGKILL');
    expect(await exitOf(termed!.w, all), termed!.w.out).toEqual({ code: 0, signal: null });
    // SIGTERM lets the point finish and be stored by that worker
    expect(termed!.w.out).toMatch(
      new RegExp(`point ${termed!.point.replace('.', '\\.')} \\(job [0-9a-f]{8}\\): done in [\\d.]+ s \\(finished after SIGTERM\\)`),
    );
    const last = workers.find((w) => w !== killed!.w && w !== termed!.w)!;
    expect(await exitOf(last, all), last.out).toEqual({ code: 0, signal: null });
    expect(await exitOf(waiter, all), waiter.err).toEqual({ code: 0, signal: null });
    // the progress lines name which worker has which point
    expect(waiter.err).toMatch(new RegExp(`sweep ${id}: \\d+/12 done, \\d+ running, \\d+ queued, 0 failed {2}\\[[^\\]]*:\\d+:[0-9a-f]{6}: beta-`));
    expect(waiter.out).toContain(`sweep ${id}: all 12 point(s) done`);

    // every point done exactly once: one result row each, and one "done" (or "already stored") line each
    const results = await db.query('SELECT r.job_key, r.worker, q.run_name FROM point_results r JOIN queue_jobs q ON q.key = r.job_key');
    expect(results.rowCount).toBe(12);
    const lines = workers.flatMap((w) => w.out.split('\n')).filter((l) => /: done in |: already stored by /.test(l));
    expect(lines.map((l) => l.match(/^point (\S+)/)![1]).sort()).toEqual(BETAS.map((b) => `beta-${b}`).sort());
    // the killed worker's point went back to the queue once and was finished elsewhere
    const killedJob = await db.query(
      'SELECT j.retry_count, r.worker FROM queue_jobs q JOIN pgboss.job j ON j.id = q.job_id JOIN point_results r ON r.job_key = q.key WHERE q.run_name = $1',
      [killed!.point],
    );
    expect(killedJob.rows[0].retry_count).toBe(1);
    const boss = await db.query(
      "SELECT state, count(*)::int AS n, max(retry_count)::int AS retries FROM pgboss.job WHERE name = 'eqprop-point' GROUP BY state",
    );
    expect(boss.rows).toEqual([{ state: 'completed', n: 12, retries: 1 }]);

    // the results equal the local sweep's (≤ 1e-6 relative; in fact bitwise)
    const local = JSON.parse(readFileSync(join(parent, 'local', 'beta-sweep.json'), 'utf8'));
    const queued = JSON.parse(readFileSync(join(parent, 'queued', 'beta-sweep.json'), 'utf8'));
    // every plot as SVG and, beside it, a PNG people can paste
    for (const dir of ['local', 'queued']) {
      for (const plot of ['beta-sweep-error', 'beta-sweep-cosine']) {
        expect(readFileSync(join(parent, dir, `${plot}.svg`), 'utf8')).toMatch(/^<svg/);
        expect([...readFileSync(join(parent, dir, `${plot}.png`)).subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]); // "PNG"
      }
    }
    const a = numbers(local.points);
    const b = numbers(queued.points);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) {
      const w = b.get(k);
      if (typeof v === 'number' && typeof w === 'number') expect(Math.abs(v - w), k).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(v)));
      else expect(w, k).toEqual(v);
    }
    expect(queued.summary.estimators.map((e: { fit: unknown }) => e.fit)).toEqual(local.summary.estimators.map((e: { fit: unknown }) => e.fit));

    // status names every point; collect writes the same outputs again; a rerun waits for nothing
    const status = cli(['sweep', 'status', '--db', url, '--id', id!.slice(0, 8)]);
    expect(status.stdout).toMatch(new RegExp(`^sweep ${id} \\(beta, ernoult2019-p1h, queued .*\\): 12/12 done, 0 running, 0 queued, 0 failed\\n`));
    expect(status.stdout.split('\n').filter((l) => /^ {2}beta-\S+: done in [\d.]+ s$/.test(l))).toHaveLength(12);
    expect(cli(['sweep', 'collect', '--db', url, '--id', id!, '--out', 'collected']).code).toBe(0);
    expect(numbers(JSON.parse(readFileSync(join(parent, 'collected', 'beta-sweep.json'), 'utf8')).points)).toEqual(b);
    // EQPROP_DB instead of --db (the README's way: the password stays off the command line)
    const again = cli([...SWEEP, '--betas', betas, '--out', 'again'], 120_000, url);
    expect(again.stdout).toContain(`sweep ${id}: 0 of 12 point(s) queued`);
    expect(again.stdout).toContain(`sweep ${id}: all 12 point(s) done`);
    for (const out of [q1.stdout, waiter.out, waiter.err, status.stdout, again.stdout, again.stderr, ...workers.map((w) => w.out + w.err)]) {
      expect(out).not.toContain(password);
    }
  });

  it('bad sweep ids, a sweep not done, --detach without a database: one line each', () => {
    const cases: [string[], RegExp][] = [
      [['sweep', 'status', '--db', url], /^eqprop: error: eqprop sweep status needs --id ID \(printed when the sweep was queued\)\n$/],
      [['sweep', 'status', '--db', url, '--id', 'xyz'], /^eqprop: error: a sweep id is 6 to 12 hex digits, got "xyz"\n$/],
      [
        ['sweep', 'collect', '--db', url, '--id', 'abcdef'],
        /^eqprop: error: no sweep "abcdef" in the runs database at postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:\d+\/eqprop\n$/,
      ],
      [[...SWEEP, '--betas', '0.1', '--detach'], /^eqprop: error: --detach leaves a sweep on the job queue: give --db URL \(or set EQPROP_DB\)\n$/],
    ];
    for (const [args, expected] of cases) {
      const r = cli(args);
      expect(r.stderr, args.join(' ')).toMatch(expected);
      expect(r.code).toBe(1);
    }
    const q = cli([...SWEEP, '--betas', '0.2,0.4', '--db', url, '--detach']);
    const id = q.stdout.match(/sweep ([0-9a-f]{12}):/)![1];
    const r = cli(['sweep', 'collect', '--db', url, '--id', id]);
    expect(r.stderr).toMatch(
      new RegExp(`^eqprop: error: sweep ${id} is not done: 2 of 2 point\\(s\\) missing \\(beta-0\\.2 queued, beta-0\\.4 queued\\); .*\\n$`),
    );
  });

  it('a worker pool (--workers 2) lives through a database restart and loses no point; a bad point fails once', { timeout: 180_000 }, async () => {
    // the two points queued by the previous test, two more, and a point whose task cannot run
    const q = cli([...SWEEP, '--betas', '0.2,0.4,0.6,0.8,0.9,0.95', '--db', url, '--detach']);
    expect(q.stdout).toMatch(/4 of 6 point\(s\) queued/);
    const queue = await openQueue(url);
    const bad = { kind: 'beta', config: { nonsense: true }, beta: 0.1, batches: 1, freeSteps: 1, nudgedSteps: 1 };
    await queue.enqueuePoints([{ key: jobKey('point', bad), pointId: 'bad-point', task: bad }]);
    await queue.close();
    await db.close();

    const pool = start(['worker', '--db', url, '--workers', '2', '--dir', 'pool', '--heartbeat', '10', '--idle-exit', '6']);
    // restart once the first point is stored
    const t0 = Date.now();
    while (!/: done in /.test(pool.out) && Date.now() - t0 < 60_000) await new Promise((res) => setTimeout(res, 50));
    expect(cli(['db', 'stop', '--dir', dbDir]).code).toBe(0);
    await new Promise((res) => setTimeout(res, 3000));
    expect(cli(['db', 'start', '--dir', dbDir]).code).toBe(0);
    expect(await pool.exit, pool.out + pool.err).toEqual({ code: 0, signal: null });
    expect(pool.out).toMatch(/eqprop worker: 2 worker processes \(pids \d+, \d+\)/);
    // seen by an idle loop or by a point being stored: either waits for the database
    expect(pool.out).toMatch(/the database cannot be reached/);
    expect(pool.out).toMatch(/the database is back after \d+ s/);
    expect(pool.out).toMatch(/point bad-point \(job [0-9a-f]{8}\): refused: /);
    expect(pool.out + pool.err).not.toContain(password);

    db = await openRunsDb(url);
    const done = await db.query(
      "SELECT q.run_name FROM point_results r JOIN queue_jobs q ON q.key = r.job_key WHERE q.run_name IN ('beta-0.2', 'beta-0.4', 'beta-0.6', 'beta-0.8', 'beta-0.9', 'beta-0.95') ORDER BY 1",
    );
    expect(done.rows.map((r) => r.run_name)).toEqual(['beta-0.2', 'beta-0.4', 'beta-0.6', 'beta-0.8', 'beta-0.9', 'beta-0.95']);
    const badJob = await db.query(
      "SELECT j.state, j.retry_count, q.status FROM pgboss.job j JOIN queue_jobs q ON q.job_id = j.id WHERE q.run_name = 'bad-point'",
    );
    expect(badJob.rows).toEqual([{ state: 'failed', retry_count: 0, status: 'failed' }]);
  });

  /** The job key of a point of the 12-point sweep, from its id (`beta-0.003`). */
  function jobKeyOf(point: string): string {
    const beta = Number(point.slice('beta-'.length));
    const local = JSON.parse(readFileSync(join(parent, 'local', 'points', `${point}.json`), 'utf8'));
    expect(local.spec.beta).toBe(beta);
    return jobKey('point', local.spec);
  }
});
