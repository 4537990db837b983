// The job queue end to end through the built CLI, on a real embedded Postgres: a 3-seed × 2-epoch
// study queued with `eqprop train --seeds`, run by 2 `eqprop worker` processes, one SIGKILLed
// once its job's first-epoch checkpoint is in the database; the other takes the job over after the
// heartbeat timeout, resumes it from that checkpoint and ends bitwise where an uninterrupted run ends.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobKey, openQueue, openRunsDb, type RunsDb } from '@eqprop/experiments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const STUDY = [
  '--preset',
  'scellier2017-1h',
  '--layers',
  '784,20,10',
  '--train-limit',
  '600',
  '--test-limit',
  '50',
  '--batch-size',
  '10',
  '--epochs',
  '2',
  '--checkpoint-every-batches',
  '5',
  '--quiet',
];

/**
 * The SIGTERM test's job: 6 epochs, so that the signal lands well inside the run (on the fused
 * kernels an epoch of STUDY takes 0.1 s, and 2 epochs were over before the worker saw it).
 */
const LONG_STUDY = [...STUDY.slice(0, STUDY.indexOf('--epochs')), '--epochs', '6', ...STUDY.slice(STUDY.indexOf('--epochs') + 2)];

interface Proc {
  p: ChildProcess;
  out: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('eqprop worker: the job queue on the runs database', () => {
  let parent: string;
  let url: string;
  let password: string;
  let db: RunsDb;
  const env = () => ({ ...process.env, EQPROP_DB: '' });
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 90_000, env: env() });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const start = (args: string[]): Proc => {
    const p = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env() });
    const proc: Proc = { p, out: '', exit: new Promise((res) => p.on('exit', (code, signal) => res({ code, signal }))) };
    p.stdout!.on('data', (d) => (proc.out += d));
    p.stderr!.on('data', (d) => (proc.out += d));
    return proc;
  };

  beforeAll(async () => {
    expect(existsSync(cliPath)).toBe(true);
    parent = mkdtempSync(join(tmpdir(), 'eqprop-worker-'));
    chmodSync(parent, 0o711); // the postgres user passes through it when the tests run as root
    expect(cli(['db', 'start', '--dir', join(parent, 'db')]).code).toBe(0);
    url = cli(['db', 'url', '--dir', join(parent, 'db')]).stdout.trim();
    password = new URL(url).password;
    db = await openRunsDb(url);
    // the reference: uninterrupted local runs
    for (const seed of [1, 2, 3, 4]) {
      const study = seed === 4 ? LONG_STUDY : STUDY;
      expect(cli(['train', ...study, '--seed', String(seed), '--out', join(parent, `ref-${seed}`)]).code).toBe(0);
    }
  }, 90_000);
  const refDir = (seed: number) => join(parent, `ref-${seed}`, readdirSync(join(parent, `ref-${seed}`))[0]);
  afterAll(async () => {
    await db?.close();
    cli(['db', 'stop', '--dir', join(parent, 'db')]);
    rmSync(parent, { recursive: true, force: true });
  });

  it('no database, a wrong password, a server that is down: one line each, the password never shown', () => {
    const wrong = url.replace(`:${password}@`, ':not-the-password@');
    const cases: [string[], RegExp][] = [
      [['worker'], /^eqprop: error: eqprop worker needs --db URL \(or EQPROP_DB\)\n$/],
      [
        ['worker', '--db', wrong],
        /^eqprop: error: the runs database at postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:\d+\/eqprop refused the password of user "eqprop"\n$/,
      ],
      [
        ['worker', '--db', 'postgres://u:pw-123@127.0.0.1:1/x'],
        /^eqprop: error: the runs database at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x refused the connection: .*\n$/,
      ],
      [
        ['train', '--seeds', '1,2', '--db', 'postgres://u:pw-123@127.0.0.1:1/x'],
        /^eqprop: error: the runs database at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x refused the connection: .*\n$/,
      ],
      [['train', '--seeds', '1,2'], /^eqprop: error: --seeds queues jobs on a database: give --db URL \(or set EQPROP_DB\)\n$/],
      [['train', '--seeds', '1,1', '--db', url], /^eqprop: error: --seeds lists a seed twice: "1,1"\n$/],
    ];
    for (const [args, expected] of cases) {
      const r = cli(args);
      expect(r.stderr, args.join(' ')).toMatch(expected);
      expect(r.code).toBe(1);
      expect(r.stderr + r.stdout).not.toContain(password);
      expect(r.stderr + r.stdout).not.toContain('pw-123');
    }
  });

  it('a job with an invalid config or a path outside the worker folder fails once, in one line', { timeout: 60_000 }, async () => {
    const queue = await openQueue(url);
    const base = JSON.parse(readFileSync(join(refDir(1), 'config.json'), 'utf8'));
    const bad = { ...base, batchSize: -3 };
    await queue.enqueueTrain([
      { key: jobKey('train', bad), seed: 1, config: bad, runName: 'bad-config' },
      { key: jobKey('train', { ...base, seed: 101 }), seed: 101, config: { ...base, seed: 101 }, runName: '../escape' },
      { key: jobKey('train', { ...base, seed: 102 }), seed: 102, config: { ...base, seed: 102 }, runName: join(parent, 'abs') },
      {
        key: jobKey('train', { ...base, seed: 103 }),
        seed: 103,
        config: { ...base, seed: 103, data: { ...base.data, dataDir: '../../etc' } },
        runName: 'ok-name',
      },
    ]);
    await queue.close();
    const w = start(['worker', '--db', url, '--dir', join(parent, 'w0'), '--idle-exit', '3', '--heartbeat', '2']);
    expect(await w.exit).toEqual({ code: 0, signal: null });
    const refused = w.out.split('\n').filter((l) => l.includes('refused'));
    expect(refused).toHaveLength(4);
    expect(refused[0]).toMatch(/^job [0-9a-f]{8}: refused: .*batchSize/);
    expect(w.out).toMatch(/refused: the run folder "\.\.\/escape" must be a relative path inside the worker's folder \(no "\.\.", not absolute\)/);
    expect(w.out).toMatch(/refused: the run folder ".*abs" must be a relative path inside the worker's folder/);
    expect(w.out).toMatch(/refused: the data folder "\.\.\/\.\.\/etc" must be a relative path/);
    expect(existsSync(join(parent, 'escape'))).toBe(false);
    expect(existsSync(join(parent, 'abs'))).toBe(false);
    const jobs = await db.query("SELECT state, retry_count FROM pgboss.job WHERE name = 'eqprop-train'");
    expect(jobs.rows).toEqual(Array(4).fill({ state: 'failed', retry_count: 0 }));
    const rows = await db.query('SELECT status, error FROM queue_jobs ORDER BY seed');
    expect(rows.rows.every((r) => r.status === 'failed' && /must be|batchSize/.test(r.error))).toBe(true);
    expect(w.out).not.toContain(password);
    await db.query("DELETE FROM pgboss.job WHERE name = 'eqprop-train'");
    await db.query('DELETE FROM queue_jobs');
  });

  it('3 seeds × 2 epochs on 2 workers, one SIGKILLed after its first epoch: each run once, bitwise', { timeout: 150_000 }, async () => {
    const q1 = cli(['train', ...STUDY, '--db', url, '--seeds', '1,2,3']);
    expect(q1.stderr).toBe('');
    expect(q1.stdout).toMatch(/^seed 1: job [0-9a-f-]{36} queued\nseed 2: job [0-9a-f-]{36} queued\nseed 3: job [0-9a-f-]{36} queued\n3 of 3 job\(s\) queued/);
    // idempotent: nothing new
    const q2 = cli(['train', ...STUDY, '--db', url, '--seeds', '1,2,3']);
    expect(q2.stdout).toMatch(/seed 1: job .* already in the queue \(queued\)\nseed 2: .*\nseed 3: .*\n0 of 3 job\(s\) queued/);

    const wait = start(['train', ...STUDY, '--db', url, '--seeds', '1,2,3', '--wait']);
    const w1 = start(['worker', '--db', url, '--dir', join(parent, 'wa'), '--heartbeat', '2', '--idle-exit', '12']);
    const w2 = start(['worker', '--db', url, '--dir', join(parent, 'wb'), '--heartbeat', '2', '--idle-exit', '12']);
    // SIGKILL the first worker whose job has a stored checkpoint inside its second epoch (epoch 1 of 0–1); polled
    // every 5 ms: on the fused kernels that epoch lasts about 0.1 s, and a 20 ms poll once first saw the final one
    const t0 = Date.now();
    let killedAt: { epoch: number; batch: number } | undefined;
    let a: Proc | undefined;
    while (!killedAt && Date.now() - t0 < 60_000) {
      const r = await db.query("SELECT worker, checkpoint_epoch, checkpoint_batch FROM queue_jobs WHERE status = 'running' AND checkpoint_epoch = 1");
      a = r.rows[0] && [w1, w2].find((w) => r.rows[0].worker.includes(`:${w.p.pid}:`));
      if (a) {
        a.p.kill('SIGKILL');
        killedAt = { epoch: r.rows[0].checkpoint_epoch, batch: r.rows[0].checkpoint_batch };
      } else await new Promise((res) => setTimeout(res, 5));
    }
    expect(killedAt, w1.out + w2.out).toBeDefined();
    console.log(`worker test: SIGKILL at the stored checkpoint of epoch ${killedAt!.epoch}, batch ${killedAt!.batch}`);
    const b = a === w1 ? w2 : w1;
    expect((await a!.exit).signal).toBe('SIGKILL');
    expect(await b.exit, b.out).toEqual({ code: 0, signal: null });
    expect(b.out).toMatch(/resuming from the stored checkpoint \(epoch 1, batch \d+\)/);
    // and the training loop did resume there (not from scratch): epoch 2 of 2, mid-epoch
    expect(b.out).toMatch(new RegExp(`job [0-9a-f]{8}: resuming .* at epoch 2, batch ${killedAt!.batch}/60`));
    const w = await wait.exit;
    expect(w.code, wait.out).toBe(0);
    expect(wait.out).toMatch(/all 3 job\(s\) done: runs \d+, \d+, \d+/);
    for (const out of [a!.out, b.out, wait.out, q1.stdout, q2.stdout]) expect(out).not.toContain(password);

    // each job done, recorded once (one run row of 2 epochs), pg-boss: completed after one retry for the killed one
    const jobs = await db.query('SELECT key, seed, status, run_id FROM queue_jobs ORDER BY seed');
    expect(jobs.rows.map((r) => [r.seed, r.status])).toEqual([
      [1, 'done'],
      [2, 'done'],
      [3, 'done'],
    ]);
    const runs = await db.query(
      "SELECT id, status, (SELECT count(*)::int FROM epochs e WHERE e.run_id = r.id) AS epochs FROM runs r WHERE r.config->>'preset' = 'scellier2017-1h'",
    );
    expect(runs.rows.map((r) => [r.status, r.epochs])).toEqual([
      ['done', 2],
      ['done', 2],
      ['done', 2],
    ]);
    const boss = await db.query("SELECT state, retry_count FROM pgboss.job WHERE name = 'eqprop-train' ORDER BY retry_count");
    expect(boss.rows).toEqual([
      { state: 'completed', retry_count: 0 },
      { state: 'completed', retry_count: 0 },
      { state: 'completed', retry_count: 1 },
    ]);
    // the final parameters in the database's checkpoint store equal the uninterrupted run's, bitwise
    for (const row of jobs.rows) {
      const stored = await db.query("SELECT data FROM checkpoint_files WHERE job_key = $1 AND name = 'checkpoint.json'", [row.key]);
      const got = JSON.parse(stored.rows[0].data.toString('utf8'));
      const ref = JSON.parse(readFileSync(join(refDir(row.seed), 'checkpoint.json'), 'utf8'));
      expect([got.epoch, got.batch]).toEqual([2, 0]);
      expect(got.params).toEqual(ref.params); // base64 of the float32 bits
      expect(got.optimizer).toEqual(ref.optimizer);
      expect(got.rng).toEqual(ref.rng);
      expect(got.history.map((m: { testError: number; trainLoss: number }) => [m.testError, m.trainLoss])).toEqual(
        ref.history.map((m: { testError: number; trainLoss: number }) => [m.testError, m.trainLoss]),
      );
    }
  });

  it('SIGTERM stores the last checkpoint, puts the job back and exits 0; the next worker finishes it, bitwise', { timeout: 90_000 }, async () => {
    expect(cli(['train', ...LONG_STUDY, '--db', url, '--seeds', '4']).code).toBe(0);
    const a = start(['worker', '--db', url, '--dir', join(parent, 'wt'), '--heartbeat', '2']);
    const t0 = Date.now();
    let stoppedAt: number | undefined;
    while (stoppedAt === undefined && Date.now() - t0 < 60_000) {
      const r = await db.query("SELECT checkpoint_seq FROM queue_jobs WHERE seed = 4 AND status = 'running' AND checkpoint_seq >= 2");
      if (r.rows[0]) {
        a.p.kill('SIGTERM');
        stoppedAt = r.rows[0].checkpoint_seq;
      } else await new Promise((res) => setTimeout(res, 20));
    }
    expect(stoppedAt, a.out).toBeDefined();
    expect(await a.exit, a.out).toEqual({ code: 0, signal: null });
    expect(a.out).toMatch(/SIGTERM: finishing or handing back 1 job\(s\), then exiting/);
    expect(a.out).toMatch(/back on the queue at stored checkpoint \d+/);
    const back = await db.query('SELECT q.status, q.worker, j.state FROM queue_jobs q JOIN pgboss.job j ON j.id = q.job_id WHERE q.seed = 4');
    expect(back.rows).toEqual([{ status: 'queued', worker: null, state: 'retry' }]);
    const b = start(['worker', '--db', url, '--dir', join(parent, 'wt2'), '--heartbeat', '2', '--idle-exit', '3']);
    expect(await b.exit, b.out).toEqual({ code: 0, signal: null });
    expect(b.out).toMatch(/resuming from the stored checkpoint/);
    const row = (await db.query('SELECT key, status FROM queue_jobs WHERE seed = 4')).rows[0];
    expect(row.status).toBe('done');
    const stored = await db.query("SELECT data FROM checkpoint_files WHERE job_key = $1 AND name = 'checkpoint.json'", [row.key]);
    const got = JSON.parse(stored.rows[0].data.toString('utf8'));
    const ref = JSON.parse(readFileSync(join(refDir(4), 'checkpoint.json'), 'utf8'));
    expect(got.params).toEqual(ref.params);
    expect(got.optimizer).toEqual(ref.optimizer);
    for (const out of [a.out, b.out]) expect(out).not.toContain(password);
  });
});
