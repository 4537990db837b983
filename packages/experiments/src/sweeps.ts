import { DbQueryError } from './errors.js';
import { type JobQueue, type JobStatus, jobKey } from './queue.js';
import type { RunsDb } from './runs-db.js';

/**
 * Sweeps on the job queue: a sweep is its spec (whatever the app needs to write its outputs
 * again) and its points; each point is one job whose key is the hash of its task, so two sweeps
 * that hold the same task share its job and its one result row.
 */
export interface SweepDef {
  /** `beta`, `batch-size`, `lr`… (the app's names). */
  kind: string;
  /** A label for lists (the preset). */
  name: string;
  spec: unknown;
  points: { pointId: string; task: unknown }[];
}

export interface SweepRow {
  id: string;
  kind: string;
  name: string | null;
  spec: unknown;
  pointCount: number;
  created: Date;
}

export interface SweepPointView {
  pointId: string;
  key: string;
  status: JobStatus;
  worker: string | null;
  error: string | null;
  /** Present with `results: true` once the point is done. */
  result?: unknown;
  seconds: number | null;
}

/** A sweep's id: 12 hex digits of the hash of its kind and point tasks (the same sweep, the same id). */
export function sweepId(def: Pick<SweepDef, 'kind' | 'points'>): string {
  return jobKey(`sweep-${def.kind}`, def.points).slice(0, 12);
}

/** Records the sweep (once) and queues the points that are missing; what was added. */
export async function enqueueSweep(queue: JobQueue, def: SweepDef): Promise<{ id: string; queued: number; requeued: number; total: number }> {
  const id = sweepId(def);
  const points = def.points.map((p) => ({ key: jobKey('point', p.task), pointId: p.pointId, task: p.task }));
  const before = new Map((await queue.status(points.map((p) => p.key))).map((v) => [v.key, v.status]));
  const jobs = await queue.enqueuePoints(points);
  await queue.db.transaction(async (q) => {
    await q('INSERT INTO sweeps (id, kind, name, spec, point_count) VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (id) DO NOTHING', [
      id,
      def.kind,
      def.name,
      JSON.stringify(def.spec),
      points.length,
    ]);
    await q(
      'INSERT INTO sweep_points (sweep_id, point_id, position, job_key) SELECT $1, p, i, k FROM unnest($2::text[], $3::int[], $4::text[]) AS t (p, i, k) ON CONFLICT DO NOTHING',
      [id, points.map((p) => p.pointId), points.map((_, i) => i), points.map((p) => p.key)],
    );
  });
  return {
    id,
    queued: jobs.filter((j) => j.created).length,
    requeued: points.filter((p) => before.get(p.key) === 'failed').length,
    total: points.length,
  };
}

/** A sweep by id or by a unique prefix of it (≥ 6 characters); undefined when there is none. */
export async function getSweep(db: RunsDb, idOrPrefix: string): Promise<SweepRow | undefined> {
  if (!/^[0-9a-f]{6,12}$/.test(idOrPrefix)) throw new DbQueryError(`a sweep id is 6 to 12 hex digits, got "${idOrPrefix}"`);
  const r = await db.query("SELECT id, kind, name, spec, point_count, created FROM sweeps WHERE id LIKE $1 || '%' ORDER BY id LIMIT 2", [idOrPrefix]);
  if (r.rows.length > 1) throw new DbQueryError(`sweep id "${idOrPrefix}" is the start of more than one sweep: give more digits`);
  const row = r.rows[0];
  return row && { id: row.id, kind: row.kind, name: row.name, spec: row.spec, pointCount: row.point_count, created: row.created };
}

/** The sweeps recorded, newest first. */
export async function listSweeps(db: RunsDb, limit = 50): Promise<SweepRow[]> {
  const r = await db.query('SELECT id, kind, name, spec, point_count, created FROM sweeps ORDER BY created DESC LIMIT $1', [limit]);
  return r.rows.map((row) => ({ id: row.id, kind: row.kind, name: row.name, spec: row.spec, pointCount: row.point_count, created: row.created }));
}

/** A sweep's points in order, with each job's state (and its result, with `results`). */
export async function sweepPoints(queue: JobQueue, id: string, opts: { results?: boolean } = {}): Promise<SweepPointView[]> {
  const r = await queue.db.query(
    `SELECT s.point_id, s.job_key, r.seconds${opts.results ? ', r.result' : ''}, r.job_key IS NOT NULL AS has_result
     FROM sweep_points s LEFT JOIN point_results r ON r.job_key = s.job_key WHERE s.sweep_id = $1 ORDER BY s.position`,
    [id],
  );
  const views = new Map((await queue.status(r.rows.map((row) => row.job_key))).map((v) => [v.key, v]));
  return r.rows.map((row) => {
    const v = views.get(row.job_key);
    return {
      pointId: row.point_id,
      key: row.job_key,
      // a stored result is done, whatever the queue's row says (a worker stopped between the two)
      status: row.has_result ? 'done' : (v?.status ?? 'queued'),
      worker: v?.worker ?? null,
      error: v?.error ?? null,
      seconds: row.seconds,
      ...(opts.results && row.has_result ? { result: row.result } : {}),
    };
  });
}

/** One line: counts, then which worker has which point. */
export function formatSweepProgress(points: SweepPointView[]): string {
  const count = (s: JobStatus) => points.filter((p) => p.status === s).length;
  const byWorker = new Map<string, string[]>();
  for (const p of points) if (p.status === 'running' && p.worker) byWorker.set(p.worker, [...(byWorker.get(p.worker) ?? []), p.pointId]);
  const running = [...byWorker].map(([w, ids]) => `${w}: ${ids.join(', ')}`).join('; ');
  return `${count('done')}/${points.length} done, ${count('running')} running, ${count('queued')} queued, ${count('failed')} failed${running ? `  [${running}]` : ''}`;
}
