import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BetaTask, jobKey, openQueue, openRunsDb, startEmbedded, stopEmbedded } from '@eqprop/experiments';
import { experimentConfig } from '../experiment-flags.js';
import type { BenchCase, BenchResult } from './suite.js';

/**
 * The job queue's own cost: `jobs` tiny sweep points (a 784-4-10 network, one example, two
 * relaxation steps: milliseconds of work) queued on a scratch embedded Postgres and run by
 * `eqprop worker --workers N`. Throughput is taken between the first and the last result (worker
 * start-up and data loading left out); the overhead per job is what a worker spends on a job
 * beyond its task: fetch, heartbeat, claim, the result's transaction, completion.
 */
export function queueCase(jobs = 1000, workers = 4): BenchCase {
  const name = `queue/${jobs}-jobs-${workers}-workers`;
  return {
    name,
    run: async (ctx) => {
      const parent = mkdtempSync(join(tmpdir(), 'eqprop-bench-queue-'));
      chmodSync(parent, 0o711); // the postgres user passes through it when this runs as root
      const dir = join(parent, 'db');
      const server = await startEmbedded({ dir });
      try {
        const config = experimentConfig({ preset: 'ernoult2019-p1h', layers: '784,4,10', 'batch-size': '1' });
        const tasks: BetaTask[] = Array.from({ length: jobs }, (_, i) => ({
          kind: 'beta',
          config,
          beta: 0.01 + i * 1e-6,
          batches: 1,
          freeSteps: 2,
          nudgedSteps: 2,
        }));
        const queue = await openQueue(server.url);
        const t0 = performance.now();
        await queue.enqueuePoints(tasks.map((task, i) => ({ key: jobKey('point', task), pointId: `p${i}`, task })));
        const enqueueMs = performance.now() - t0;
        await queue.close();
        ctx.log(`    queued ${jobs} points in ${enqueueMs.toFixed(0)} ms`);

        const w = spawn(
          process.execPath,
          [process.argv[1], 'worker', '--workers', String(workers), '--dir', join(parent, 'w'), '--idle-exit', '3', '--heartbeat', '30'],
          { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EQPROP_DB: server.url } },
        );
        let out = '';
        w.stdout.on('data', (d) => (out += d));
        w.stderr.on('data', (d) => (out += d));
        const exit = new Promise<number | null>((res) => w.on('exit', (code) => res(code)));
        const code = await exit;
        if (code !== 0) throw new Error(`eqprop worker exited with ${code}: ${out.split('\n').slice(-5).join(' / ')}`);

        const db = await openRunsDb(server.url);
        const r = await db.query<{ n: number; first: Date; last: Date; task_s: number }>(
          'SELECT count(*)::int AS n, min(finished) AS first, max(finished) AS last, avg(seconds) AS task_s FROM point_results',
        );
        const boss = await db.query<{ state: string; n: number }>(
          "SELECT state, count(*)::int AS n FROM pgboss.job WHERE name = 'eqprop-point' GROUP BY state",
        );
        await db.close();
        const { n, first, last, task_s } = r.rows[0];
        const completed = boss.rows.find((b) => b.state === 'completed')?.n ?? 0;
        const span = (last.getTime() - first.getTime()) / 1000;
        const perSecond = (n - 1) / span;
        // each worker turns a job around every workers/perSecond seconds (wall clock, sharing the
        // cores as the tasks do); the task's own wall-clock time is part of it, the rest is the queue's
        const overheadMs = (workers / perSecond - task_s) * 1000;
        ctx.log(
          `    ${n} results, ${completed} completed; ${perSecond.toFixed(1)} jobs/s; task ${(task_s * 1000).toFixed(1)} ms, queue overhead ${overheadMs.toFixed(1)} ms per job and worker (${workers} workers on ${cpus().length} cores)`,
        );
        const results: BenchResult[] = [
          { name: `${name}/jobs-per-s`, value: perSecond, unit: 'jobs/s', higherIsBetter: true, detail: { workers, cores: cpus().length } },
          { name: `${name}/overhead-per-job`, value: overheadMs, unit: 'ms', higherIsBetter: false, detail: { taskMs: task_s * 1000, enqueueMs } },
          { name: `${name}/lost`, value: jobs - Math.min(n, completed), unit: 'jobs', higherIsBetter: false, detail: { results: n, completed } },
        ];
        return results;
      } finally {
        await stopEmbedded(dir).catch(() => {});
        rmSync(parent, { recursive: true, force: true });
      }
    },
  };
}
