import { createHash } from 'node:crypto';
import PgBoss from 'pg-boss';
import { DbQueryError } from './errors.js';
import { redactText } from './redact.js';
import { openRunsDb, type RunsDb } from './runs-db.js';

/**
 * The job queue of eqprop on the runs database's Postgres: pg-boss (schema `pgboss`) holds the
 * jobs, their state, retries and expiry; the table `queue_jobs` holds eqprop's view of each job
 * (its key, seed, config, worker, run id, last stored checkpoint) and `checkpoint_files` the
 * checkpoint files of each job, where any worker can resume it.
 *
 * Liveness: pg-boss expires an active job `expire_in` after its `started_on`. A worker's heartbeat
 * (see {@link HEARTBEAT_SQL}) moves `started_on` to now and sets `expire_in` to the heartbeat
 * timeout, so a live job never expires and a SIGKILLed worker's job is put back (state `retry`)
 * by pg-boss's supervision one timeout after the last beat.
 */
export const TRAIN_QUEUE = 'eqprop-train';
/** Sweep points: short tasks that return a result (no checkpoint; a lost one is computed again). */
export const POINT_QUEUE = 'eqprop-point';

/** What a job is: a training run (checkpointed, resumable) or a sweep point (a result row). */
export type JobKind = 'train' | 'point';

const QUEUES: Record<JobKind, string> = { train: TRAIN_QUEUE, point: POINT_QUEUE };

/** Tries of a job (kills, lost databases) before pg-boss marks it failed. */
export const DEFAULT_RETRY_LIMIT = 10;

/** $1 queue, $2 job id, $3 seconds: the job stays active that long after this beat. */
export const HEARTBEAT_SQL =
  "UPDATE pgboss.job SET started_on = now(), expire_in = make_interval(secs => $3) WHERE name = $1 AND id = $2 AND state = 'active' RETURNING id";

/**
 * Stores one checkpoint of a job (fenced: only the worker that holds the job, only a newer one).
 * $1 key, $2 worker, $3 seq, $4 epoch, $5 batch.
 */
export const STORE_CHECKPOINT_SQL =
  "UPDATE queue_jobs SET checkpoint_seq = $3, checkpoint_epoch = $4, checkpoint_batch = $5, updated = now() WHERE key = $1 AND worker = $2 AND status = 'running' AND (checkpoint_seq IS NULL OR checkpoint_seq < $3) RETURNING key";

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

/** What a train job carries. */
export interface TrainJobData {
  key: string;
  seed: number | null;
  /** The resolved run config (checked again by the worker). */
  config: unknown;
  /** The run folder's name, relative to the worker's runs folder. */
  runName: string;
}

/** What a point job carries: the task (opaque to the queue; the worker checks it). */
export interface PointJobData {
  key: string;
  /** The point's id in the sweep that queued it (for progress lines). */
  pointId: string;
  task: unknown;
}

/** A job taken from the queue, now active for this worker. */
export type FetchedJob =
  | { kind: 'train'; id: string; data: TrainJobData; retryCount: number }
  | { kind: 'point'; id: string; data: PointJobData; retryCount: number };

export interface JobView {
  key: string;
  jobId: string;
  seed: number | null;
  runName: string;
  status: JobStatus;
  worker: string | null;
  runId: number | null;
  error: string | null;
  checkpointEpoch: number | null;
  checkpointBatch: number | null;
}

export interface EnqueueResult extends JobView {
  /** False when the job was already in the queue (any status): nothing was added. */
  created: boolean;
}

export interface QueueOptions {
  /** Seconds between pg-boss supervision passes (expiry of jobs whose worker stopped beating); default 10. */
  maintenanceSeconds?: number;
  /** Errors of the queue's background work, redacted. */
  onError?: (line: string) => void;
}

/** A canonical JSON (sorted keys) of a value. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The key of a job: SHA-256 of its kind and canonical config. Equal configs are one job. */
export function jobKey(kind: string, config: unknown): string {
  return createHash('sha256')
    .update(`${kind}\n${canonicalJson(config)}`)
    .digest('hex');
}

/** A UUID made from a key (pg-boss job ids are UUIDs): the same key always names the same job. */
export function keyUuid(key: string): string {
  const h = createHash('sha256').update(`eqprop-job:${key}`).digest('hex');
  const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export async function openQueue(url: string, opts: QueueOptions = {}): Promise<JobQueue> {
  const db = await openRunsDb(url);
  const boss = new PgBoss({
    connectionString: url,
    max: 2,
    schedule: false,
    supervise: true,
    maintenanceIntervalSeconds: Math.max(1, Math.round(opts.maintenanceSeconds ?? 10)),
  });
  const secret = db.secretForRedaction;
  boss.on('error', (e: Error) => opts.onError?.(redactText(String(e?.message ?? e).split('\n')[0], [secret])));
  try {
    await boss.start();
    for (const name of Object.values(QUEUES)) {
      if (await boss.getQueue(name)) continue;
      await boss.createQueue(name, { name, retryLimit: DEFAULT_RETRY_LIMIT, retryDelay: 0, retryBackoff: false }).catch(async (e) => {
        // two workers creating it at once: the other one won
        if (!(await boss.getQueue(name))) throw e;
      });
    }
  } catch (e) {
    await boss.stop({ graceful: false, wait: false }).catch(() => {});
    await db.close();
    throw new DbQueryError(`the job queue at ${db.safeUrl} could not start: ${redactText(String((e as Error)?.message ?? e).split('\n')[0], [secret])}`);
  }
  return new JobQueue(db, boss, url);
}

export class JobQueue {
  constructor(
    readonly db: RunsDb,
    private readonly boss: PgBoss,
    /** The URL (with its password): for a worker's sidecar connection, never for messages. */
    readonly url: string,
  ) {}

  get safeUrl(): string {
    return this.db.safeUrl;
  }

  /**
   * Adds the jobs that are not in the queue yet (by key); returns every job with its state.
   * Idempotent: a second call with the same jobs adds nothing.
   */
  async enqueueTrain(jobs: TrainJobData[], opts: { retryLimit?: number } = {}): Promise<EnqueueResult[]> {
    const out: EnqueueResult[] = [];
    for (const job of jobs) {
      const existing = (await this.status([job.key]))[0];
      if (existing) {
        out.push({ ...existing, created: false });
        continue;
      }
      const id = keyUuid(job.key);
      // the job first, then its row: a crash in between is mended by the next call (same id, no second job)
      await this.boss.send(TRAIN_QUEUE, job as unknown as object, {
        id,
        retryLimit: opts.retryLimit ?? DEFAULT_RETRY_LIMIT,
        retryDelay: 0,
        retryBackoff: false,
      });
      const r = await this.db.query(
        'INSERT INTO queue_jobs (key, job_id, kind, seed, config, run_name) VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (key) DO NOTHING',
        [job.key, id, 'train', job.seed, JSON.stringify(job.config), job.runName],
      );
      out.push({ ...(await this.status([job.key]))[0], created: r.rowCount === 1 });
    }
    return out;
  }

  /**
   * Adds the sweep points whose task is not in the queue yet (a point's key is the hash of its
   * task, so sweeps that share a task share its job); puts failed ones back on the queue.
   * Idempotent: a second call adds nothing. One insert for all new jobs.
   */
  async enqueuePoints(points: PointJobData[], opts: { retryLimit?: number } = {}): Promise<EnqueueResult[]> {
    const known = new Map((await this.status(points.map((p) => p.key))).map((v) => [v.key, v]));
    const fresh = points.filter((p, i) => !known.has(p.key) && points.findIndex((q) => q.key === p.key) === i);
    const failed = [...known.values()].filter((v) => v.status === 'failed');
    if (fresh.length) {
      await this.boss.insert(
        fresh.map((p) => ({
          id: keyUuid(p.key),
          name: POINT_QUEUE,
          data: p,
          retryLimit: opts.retryLimit ?? DEFAULT_RETRY_LIMIT,
          retryDelay: 0,
          retryBackoff: false,
        })),
      );
      await this.db.query(
        "INSERT INTO queue_jobs (key, job_id, kind, config, run_name) SELECT k, j, 'point', c, n FROM unnest($1::text[], $2::uuid[], $3::jsonb[], $4::text[]) AS t (k, j, c, n) ON CONFLICT (key) DO NOTHING",
        [fresh.map((p) => p.key), fresh.map((p) => keyUuid(p.key)), fresh.map((p) => JSON.stringify(p.task)), fresh.map((p) => p.pointId)],
      );
    }
    if (failed.length) {
      await this.boss.retry(
        POINT_QUEUE,
        failed.map((v) => v.jobId),
      );
      await this.db.query("UPDATE queue_jobs SET status = 'queued', worker = NULL, error = NULL, updated = now() WHERE key = ANY($1::text[])", [
        failed.map((v) => v.key),
      ]);
    }
    const after = new Map((await this.status(points.map((p) => p.key))).map((v) => [v.key, v]));
    const freshKeys = new Set(fresh.map((p) => p.key));
    return points.map((p) => ({ ...after.get(p.key)!, created: freshKeys.has(p.key) }));
  }

  /** The jobs with these keys (in that order; unknown keys are left out). */
  async status(keys: string[]): Promise<JobView[]> {
    // a job pg-boss put back (its worker stopped beating) reads as queued until a worker claims it
    const r = await this.db.query(
      `SELECT q.key, q.job_id, q.seed, q.run_name, q.worker, q.run_id, q.error, q.checkpoint_epoch, q.checkpoint_batch,
         CASE WHEN q.status = 'running' AND j.state IN ('created', 'retry') THEN 'queued' ELSE q.status END AS status
       FROM queue_jobs q LEFT JOIN pgboss.job j ON j.id = q.job_id WHERE q.key = ANY($1::text[])`,
      [keys],
    );
    const byKey = new Map(r.rows.map((row) => [row.key as string, toView(row)]));
    return keys.flatMap((k) => (byKey.has(k) ? [byKey.get(k)!] : []));
  }

  /** The next job (sweep points first: they are short), now active for this worker; undefined when none is waiting. */
  async fetchNext(kinds: readonly JobKind[] = ['point', 'train']): Promise<FetchedJob | undefined> {
    for (const kind of kinds) {
      const jobs = await this.boss.fetch<TrainJobData | PointJobData>(QUEUES[kind], { batchSize: 1, includeMetadata: true });
      const job = jobs?.[0] as PgBoss.JobWithMetadata<TrainJobData | PointJobData> | undefined;
      if (job) return { kind, id: job.id, data: job.data, retryCount: job.retryCount } as FetchedJob;
    }
    // pg-boss's fetch answers "nothing" when the database is down: ask it, so that a worker knows
    await this.db.query('SELECT 1');
    return undefined;
  }

  /** Marks a job running on a worker (after a fetch); returns its row (run id, last checkpoint). */
  async claim(key: string, worker: string): Promise<JobView> {
    await this.db.query("UPDATE queue_jobs SET status = 'running', worker = $2, error = NULL, updated = now() WHERE key = $1", [key, worker]);
    const [v] = await this.status([key]);
    if (!v) throw new DbQueryError(`job ${key.slice(0, 12)} is in the queue but not in queue_jobs`);
    return v;
  }

  async setRunId(key: string, runId: number): Promise<void> {
    await this.db.query('UPDATE queue_jobs SET run_id = $2, updated = now() WHERE key = $1', [key, runId]);
  }

  /** One heartbeat from the main thread (a worker's sidecar beats on its own connection). */
  async heartbeat(kind: JobKind, jobId: string, seconds: number): Promise<boolean> {
    const r = await this.db.query(HEARTBEAT_SQL, [QUEUES[kind], jobId, seconds]);
    return r.rowCount === 1;
  }

  async complete(kind: JobKind, jobId: string, key: string, worker: string, output: object): Promise<void> {
    await this.boss.complete(QUEUES[kind], jobId, output);
    await this.db.query("UPDATE queue_jobs SET status = 'done', updated = now() WHERE key = $1 AND worker = $2", [key, worker]);
  }

  /** Fails a job for good (a config that cannot run): no retry. */
  async failForGood(kind: JobKind, jobId: string, key: string | undefined, message: string): Promise<void> {
    await this.db.query("UPDATE pgboss.job SET retry_limit = retry_count WHERE name = $1 AND id = $2 AND state = 'active'", [QUEUES[kind], jobId]);
    await this.boss.fail(QUEUES[kind], jobId, { message });
    if (key) await this.db.query("UPDATE queue_jobs SET status = 'failed', error = $2, updated = now() WHERE key = $1", [key, message]);
  }

  /** Puts an active job back on the queue unfinished (a stopping worker), without using up a retry. */
  async release(kind: JobKind, jobId: string, key: string, worker: string): Promise<void> {
    await this.db.query(
      "UPDATE pgboss.job SET state = 'retry', retry_limit = retry_limit + 1, start_after = now() WHERE name = $1 AND id = $2 AND state = 'active'",
      [QUEUES[kind], jobId],
    );
    await this.db.query("UPDATE queue_jobs SET status = 'queued', worker = NULL, updated = now() WHERE key = $1 AND worker = $2", [key, worker]);
  }

  /** The last stored checkpoint files of a job (none when it has not checkpointed). */
  async checkpointFiles(key: string): Promise<{ name: string; data: Buffer }[]> {
    const r = await this.db.query<{ name: string; data: Buffer }>('SELECT name, data FROM checkpoint_files WHERE job_key = $1 ORDER BY name', [key]);
    return r.rows;
  }

  /** Stores a checkpoint's files (all or nothing; fenced like {@link STORE_CHECKPOINT_SQL}); false when refused. */
  async storeCheckpoint(
    key: string,
    worker: string,
    ck: { seq: number; epoch: number; batch: number },
    files: { name: string; data: Uint8Array }[],
  ): Promise<boolean> {
    return this.db.transaction(async (q) => {
      const r = await q(STORE_CHECKPOINT_SQL, [key, worker, ck.seq, ck.epoch, ck.batch]);
      if (r.rowCount !== 1) return false;
      await q('DELETE FROM checkpoint_files WHERE job_key = $1', [key]);
      for (const f of files) await q('INSERT INTO checkpoint_files (job_key, name, data) VALUES ($1, $2, $3)', [key, f.name, Buffer.from(f.data)]);
      return true;
    });
  }

  /** A point's stored result (a job completed by a worker that died before pg-boss heard of it), or undefined. */
  async pointResult(key: string): Promise<{ result: unknown; worker: string } | undefined> {
    const r = await this.db.query('SELECT result, worker FROM point_results WHERE job_key = $1', [key]);
    return r.rows[0] as { result: unknown; worker: string } | undefined;
  }

  /**
   * Stores a point's result and marks its job done, in one transaction, fenced: only the worker
   * that holds the job stores it, and a point has one result row at most (its primary key).
   * False when refused (the job is no longer this worker's).
   */
  async storePointResult(key: string, worker: string, result: unknown, seconds: number): Promise<boolean> {
    return this.db.transaction(async (q) => {
      const held = await q("SELECT 1 FROM queue_jobs WHERE key = $1 AND worker = $2 AND status = 'running' FOR UPDATE", [key, worker]);
      if (held.rowCount !== 1) return false;
      await q('INSERT INTO point_results (job_key, result, seconds, worker) VALUES ($1, $2::jsonb, $3, $4) ON CONFLICT (job_key) DO NOTHING', [
        key,
        JSON.stringify(result),
        seconds,
        worker,
      ]);
      await q("UPDATE queue_jobs SET status = 'done', updated = now() WHERE key = $1", [key]);
      return true;
    });
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, wait: true, timeout: 2000 }).catch(() => {});
    await this.db.close();
  }
}

function toView(row: Record<string, unknown>): JobView {
  return {
    key: row.key as string,
    jobId: row.job_id as string,
    seed: row.seed as number | null,
    runName: row.run_name as string,
    status: row.status as JobStatus,
    worker: row.status === 'queued' ? null : (row.worker as string | null),
    runId: row.run_id === null ? null : Number(row.run_id),
    error: row.error as string | null,
    checkpointEpoch: row.checkpoint_epoch as number | null,
    checkpointBatch: row.checkpoint_batch as number | null,
  };
}
