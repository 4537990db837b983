import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { type JobKind, POINT_QUEUE, TRAIN_QUEUE } from './queue.js';
import { stopThread } from './stop-thread.js';

/**
 * One heartbeat thread for all the short jobs of a worker process (sweep points): one connection,
 * one statement per beat for every job it holds. A point's work blocks the main thread, so the
 * beats come from a thread; starting a thread and a connection per point would cost more than
 * many points do (a training job's sidecar, which also copies checkpoints, is per job).
 */
export interface Beater {
  /** Beats this job from now on (the caller gave it a first beat when it fetched it). */
  add(kind: JobKind, jobId: string): void;
  remove(jobId: string): void;
  /** Called with a one-line warning when a beat fails (a database away: the next beat tries again). */
  onWarn(cb: (line: string) => void): void;
  stop(): Promise<void>;
}

const CODE = String.raw`
const { parentPort, workerData: W } = require('node:worker_threads');
const pg = require(W.pgPath);
const pool = new pg.Pool({ connectionString: W.url, max: 1, idleTimeoutMillis: 5000 });
pool.on('error', () => {});
const jobs = new Map();
let busy = false;
async function beat() {
  if (busy || jobs.size === 0) return;
  busy = true;
  try {
    for (const queue of new Set(jobs.values())) {
      const ids = [...jobs].filter(([, q]) => q === queue).map(([id]) => id);
      await pool.query(
        "UPDATE pgboss.job SET started_on = now(), expire_in = make_interval(secs => $3) WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'active'",
        [queue, ids, W.heartbeatSeconds],
      );
    }
  } catch (e) {
    parentPort.postMessage({ type: 'warn', message: String((e && e.message) || e).split('\n')[0] });
  } finally {
    busy = false;
  }
}
const timer = setInterval(beat, Math.max(250, (W.heartbeatSeconds * 1000) / 3));
parentPort.on('message', async (m) => {
  if (m.type === 'add') jobs.set(m.jobId, m.queue);
  else if (m.type === 'remove') jobs.delete(m.jobId);
  else if (m.type === 'stop') {
    clearInterval(timer);
    await pool.end().catch(() => {});
    parentPort.postMessage({ type: 'stopped' });
    parentPort.close();
  }
});
`;

export function startBeater(opts: { url: string; heartbeatSeconds: number }): Beater {
  const pgPath = createRequire(import.meta.url).resolve('pg');
  const worker = new Worker(CODE, { eval: true, workerData: { ...opts, pgPath } });
  worker.unref();
  let warnCb: ((line: string) => void) | undefined;
  worker.on('message', (m: { type: string; message?: string }) => {
    if (m.type === 'warn') warnCb?.(m.message ?? '');
  });
  worker.on('error', (e) => warnCb?.(`heartbeat thread: ${e.message.split('\n')[0]}`));
  return {
    add: (kind, jobId) => worker.postMessage({ type: 'add', jobId, queue: kind === 'point' ? POINT_QUEUE : TRAIN_QUEUE }),
    remove: (jobId) => worker.postMessage({ type: 'remove', jobId }),
    onWarn: (cb) => {
      warnCb = cb;
    },
    stop: () => stopThread(worker),
  };
}
