import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { HEARTBEAT_SQL, type JobKind, POINT_QUEUE, STORE_CHECKPOINT_SQL, TRAIN_QUEUE } from './queue.js';
import { stopThread } from './stop-thread.js';

/**
 * A worker's companion thread for the job it runs: beats the job's heartbeat and copies each new
 * checkpoint of the run folder to the database. It runs on its own thread and connection because
 * training keeps the main thread busy for whole epochs (its timers would not fire).
 *
 * A checkpoint is taken when `checkpoint.json` has a higher `seq` than the last one stored, its
 * SHA-256 seal holds, and every particle file it names has the size and CRC-32 it records (a file
 * already replaced by a later checkpoint fails that check; the next poll takes the later one).
 * The resume granularity is therefore the run's own checkpoints (--checkpoint-every seconds,
 * --checkpoint-every-batches, each epoch end), less any written within one poll of the next.
 */
export interface SidecarOptions {
  url: string;
  jobId: string;
  key: string;
  worker: string;
  /** Default `train`; a point job has no run folder and only beats. */
  kind?: JobKind;
  /** The run folder whose checkpoints are copied; none: heartbeat only. */
  runDir?: string;
  heartbeatSeconds: number;
  /** The seq of the checkpoint already stored (restored from the database), 0 for none. */
  startSeq: number;
  /** Files copied with each checkpoint when present (they may be ahead of it; a resume trims them). */
  extraFiles?: string[];
  pollMs?: number;
}

export interface Sidecar {
  /** Stores the newest checkpoint now (if newer than the stored one); the stored seq. */
  flush(): Promise<number>;
  /** Called once when the job is no longer this worker's (expired and taken, or released). */
  onLost(cb: () => void): void;
  /** Called with a one-line (redacted by the caller) warning when a store or beat fails. */
  onWarn(cb: (line: string) => void): void;
  stop(): Promise<void>;
}

const CODE = String.raw`
const { parentPort, workerData: W } = require('node:worker_threads');
const pg = require(W.pgPath);
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const pool = new pg.Pool({ connectionString: W.url, max: 1, idleTimeoutMillis: 5000 });
pool.on('error', () => {});
let stored = W.startSeq;
let lost = false;
let stopping = false;
const warn = (e) => parentPort.postMessage({ type: 'warn', message: String((e && e.message) || e).split('\n')[0] });

async function beat() {
  if (lost || stopping) return;
  try {
    const r = await pool.query(W.heartbeatSql, [W.queue, W.jobId, W.heartbeatSeconds]);
    if (r.rowCount === 0 && !stopping) { lost = true; parentPort.postMessage({ type: 'lost' }); }
  } catch (e) { warn(e); }
}

function readCheckpoint() {
  if (!W.runDir) return undefined;
  let raw;
  try { raw = fs.readFileSync(path.join(W.runDir, 'checkpoint.json')); } catch { return undefined; }
  let ck;
  try { ck = JSON.parse(raw.toString('utf8')); } catch { return undefined; }
  if (!ck || typeof ck.seq !== 'number' || ck.seq <= stored) return undefined;
  const { sha256, ...rest } = ck;
  if (typeof sha256 === 'string' && crypto.createHash('sha256').update(JSON.stringify(rest), 'utf8').digest('hex') !== sha256) return undefined;
  const files = [{ name: 'checkpoint.json', data: raw }];
  for (const v of Object.values(ck)) {
    if (!v || typeof v !== 'object' || Array.isArray(v) || typeof v.file !== 'string' || typeof v.crc32 !== 'number') continue;
    let b;
    try { b = fs.readFileSync(path.join(W.runDir, v.file)); } catch { return undefined; }
    if (b.length !== v.bytes || (zlib.crc32(b) >>> 0) !== v.crc32) return undefined;
    files.push({ name: v.file, data: b });
  }
  for (const name of W.extraFiles) {
    try { files.push({ name, data: fs.readFileSync(path.join(W.runDir, name)) }); } catch {}
  }
  return { seq: ck.seq, epoch: ck.epoch, batch: ck.batch, files };
}

let busy = Promise.resolve();
function store() {
  busy = busy.catch(() => {}).then(async () => {
    if (lost) return;
    const ck = readCheckpoint();
    if (!ck) return;
    let client;
    try { client = await pool.connect(); } catch (e) { warn(e); return; } // down: the next poll tries again
    const ignore = () => {}; // a lost connection rejects the statement in flight; unheard, its event would end the thread
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      const r = await client.query(W.storeSql, [W.key, W.worker, ck.seq, ck.epoch, ck.batch]);
      if (r.rowCount !== 1) { await client.query('ROLLBACK'); stored = Math.max(stored, ck.seq); return; }
      await client.query('DELETE FROM checkpoint_files WHERE job_key = $1', [W.key]);
      for (const f of ck.files) await client.query('INSERT INTO checkpoint_files (job_key, name, data) VALUES ($1, $2, $3)', [W.key, f.name, f.data]);
      await client.query('COMMIT');
      stored = ck.seq;
      parentPort.postMessage({ type: 'stored', seq: ck.seq, epoch: ck.epoch, batch: ck.batch });
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      warn(e);
    } finally {
      client.removeListener('error', ignore);
      client.release();
    }
  });
  return busy;
}

const hb = setInterval(beat, Math.max(250, (W.heartbeatSeconds * 1000) / 3));
beat();
let poll;
const loop = () => { poll = setTimeout(() => store().finally(() => { if (!stopping) loop(); }), W.pollMs); };
loop();
parentPort.on('message', async (m) => {
  if (m.type === 'flush') {
    await store();
    parentPort.postMessage({ type: 'flushed', id: m.id, seq: stored });
  } else if (m.type === 'stop') {
    stopping = true;
    clearInterval(hb);
    clearTimeout(poll);
    await busy.catch(() => {});
    await pool.end().catch(() => {});
    parentPort.postMessage({ type: 'stopped' });
    parentPort.close();
  }
});
`;

export function startSidecar(opts: SidecarOptions): Sidecar {
  const pgPath = createRequire(import.meta.url).resolve('pg');
  const worker = new Worker(CODE, {
    eval: true,
    workerData: {
      ...opts,
      pgPath,
      queue: opts.kind === 'point' ? POINT_QUEUE : TRAIN_QUEUE,
      heartbeatSql: HEARTBEAT_SQL,
      storeSql: STORE_CHECKPOINT_SQL,
      extraFiles: opts.extraFiles ?? [],
      pollMs: opts.pollMs ?? 200,
    },
  });
  worker.unref();
  let lostCb: (() => void) | undefined;
  let warnCb: ((line: string) => void) | undefined;
  let lost = false;
  let next = 0;
  const waiting = new Map<number, (seq: number) => void>();
  worker.on('message', (m: { type: string; id?: number; seq?: number; message?: string }) => {
    if (m.type === 'lost' && !lost) {
      lost = true;
      lostCb?.();
    } else if (m.type === 'warn') warnCb?.(m.message ?? '');
    else if (m.type === 'flushed') {
      waiting.get(m.id!)?.(m.seq!);
      waiting.delete(m.id!);
    }
  });
  worker.on('error', (e) => warnCb?.(`checkpoint and heartbeat thread: ${e.message.split('\n')[0]}`));
  return {
    flush: () =>
      new Promise<number>((res) => {
        const id = next++;
        waiting.set(id, res);
        worker.postMessage({ type: 'flush', id });
      }),
    onLost: (cb) => {
      lostCb = cb;
    },
    onWarn: (cb) => {
      warnCb = cb;
    },
    stop: () => stopThread(worker),
  };
}
