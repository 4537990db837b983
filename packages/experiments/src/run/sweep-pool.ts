import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EqpropError } from '@eqprop/core';
import { atomicWrite } from './run-dir.js';
import { type Task, TaskContext, type TaskResult } from './sweep-tasks.js';

/** One point of a sweep: its task and the file its result goes to. */
export interface SweepPoint {
  id: string;
  file: string;
  task: Task;
}

/** What a point file holds: the task it answers (so a changed sweep recomputes it) and the result. */
export interface PointFile<R = TaskResult> {
  spec: Task;
  result: R;
  seconds: number;
}

type ToWorker = { type: 'point'; point: SweepPoint } | { type: 'close' };
type FromWorker = { type: 'ready' } | { type: 'done'; id: string; seconds: number } | { type: 'error'; message: string };

/** The finished result of a point, or undefined when its file is missing, unreadable or for another task. */
export function readPoint<R = TaskResult>(point: SweepPoint): PointFile<R> | undefined {
  if (!existsSync(point.file)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(point.file, 'utf8')) as PointFile<R>;
    return JSON.stringify(saved.spec) === JSON.stringify(point.task) ? saved : undefined;
  } catch {
    return undefined;
  }
}

export interface PoolOptions {
  /** Worker processes at most (default: one per point, capped by the caller). */
  workers: number;
  log: (line: string) => void;
  /** The CLI entry the workers run (`<script> sweep --worker`); default: this process's. */
  script?: string;
}

/**
 * Runs the points whose result file is missing in parallel worker processes (one point at a
 * time each, all cores); every worker writes its point's file atomically (temp + rename) as
 * soon as it is done, so a sweep killed midway keeps what it finished and a second run computes
 * only the rest. Resolves with the ids computed and skipped.
 */
export async function runPoints(points: SweepPoint[], opts: PoolOptions): Promise<{ computed: string[]; skipped: string[] }> {
  const skipped = points.filter((p) => readPoint(p)).map((p) => p.id);
  const todo = points.filter((p) => !skipped.includes(p.id));
  if (skipped.length) opts.log(`${skipped.length} of ${points.length} points already done (${skipped.join(', ')}): skipped`);
  if (!todo.length) return { computed: [], skipped };
  for (const p of todo) mkdirSync(dirname(p.file), { recursive: true });
  const script = opts.script ?? process.argv[1];
  const n = Math.max(1, Math.min(opts.workers, todo.length));
  opts.log(`computing ${todo.length} points in ${n} worker process${n > 1 ? 'es' : ''}`);
  const queue = todo.slice();
  const computed: string[] = [];
  const children: ChildProcess[] = [];
  const t0 = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let running = n;
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      for (let w = 0; w < n; w++) {
        const child = fork(script, ['sweep', '--worker'], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        children.push(child);
        const next = () => {
          const point = queue.shift();
          child.send((point ? { type: 'point', point } : { type: 'close' }) satisfies ToWorker);
        };
        child.on('message', (m: FromWorker) => {
          if (m.type === 'ready') next();
          else if (m.type === 'done') {
            computed.push(m.id);
            opts.log(`point ${m.id} done in ${m.seconds.toFixed(1)} s (${computed.length}/${todo.length}, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
            next();
          } else fail(new EqpropError('E_SWEEP', m.message));
        });
        child.on('error', fail);
        child.on('exit', (code, signal) => {
          if (code !== 0) fail(new EqpropError('E_SWEEP', `a sweep worker stopped (${signal ?? `exit code ${code}`})`));
          else if (--running === 0) resolve();
        });
      }
    });
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
  }
  return { computed, skipped };
}

/**
 * The worker side (`eqprop sweep --worker`, started by runPoints): computes the points it is
 * sent, writes each result file atomically, and exits when told to or when its parent is gone.
 */
export function sweepWorker(): Promise<void> {
  const send = (m: FromWorker) => process.send!(m);
  if (!process.send) throw new EqpropError('E_USAGE', '--worker is internal: eqprop sweep starts its own workers');
  const context = new TaskContext();
  return new Promise((resolve) => {
    process.on('disconnect', () => process.exit(0));
    process.on('message', async (m: ToWorker) => {
      if (m.type === 'close') {
        // the CLI exits once this resolves, which closes the channel
        process.removeAllListeners('disconnect');
        process.removeAllListeners('message');
        resolve();
        return;
      }
      const t0 = Date.now();
      try {
        const result = await context.run(m.point.task, (line) => process.stderr.write(`  ${line}\n`));
        const seconds = (Date.now() - t0) / 1000;
        atomicWrite(m.point.file, `${JSON.stringify({ spec: m.point.task, result, seconds } satisfies PointFile)}\n`);
        send({ type: 'done', id: m.point.id, seconds });
      } catch (e) {
        send({ type: 'error', message: `point ${m.point.id}: ${(e as Error).message.split('\n')[0]}` });
      }
    });
    send({ type: 'ready' });
  });
}
