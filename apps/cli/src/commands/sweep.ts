import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BetaPoint,
  betaSweepPlots,
  formatBetaSweepTable,
  formatCurveTable,
  LEARNERS,
  type LearnerKind,
  type LearningCurve,
  learningCurvePlots,
  logGrid,
  summariseBetaSweep,
  sweepResultPlot,
} from '@eqprop/analysis';
import { ConfigError, EqpropError } from '@eqprop/core';
import {
  atomicWrite,
  enqueueSweep,
  formatSweepProgress,
  getSweep,
  type JobQueue,
  openQueue,
  type PointFile,
  type RunConfig,
  readPoint,
  runPoints,
  type SweepPoint,
  sweepPoints,
  sweepWorker,
  type Task,
  type TaskResult,
  writePlot,
} from '@eqprop/experiments';
import { checkEstimatorName } from '@eqprop/learning';
import { listFlag, numberFlag, parseFlags } from '../args.js';
import { EXPERIMENT_HELP, EXPERIMENT_OPTIONS, experimentConfig, type Flags, intFlag, workerCount } from '../experiment-flags.js';
import { resolveDbUrl } from './runs.js';

export const SWEEP_HELP = `eqprop sweep beta|batch-size|lr --preset NAME [flags]
  Runs the points of a sweep in parallel worker processes, one result file per point under
  <out>/points; run it again and it computes only the points that are missing.

  eqprop sweep beta: on fixed training batches, EP's estimates (one-sided, symmetric,
  random-sign) against the true gradient (recurrent backprop at the free equilibrium) for β on
  a log grid: cosine and relative error (mean ± std over batches), log-log plot with fitted
  slopes, the float32 noise floor, and the β minimising the error per estimator.
    --betas LIST          β values (default 1e-4 … 1, --per-decade points per decade, default 3)
    --batches N           fixed batches (default 4)
    --sweep-free-steps N  free phase (default max(10 T, 300): it must converge)
    --sweep-nudged-steps N  each nudged phase (default max(10 K, 200))
    --estimators LIST     the estimators compared, on one plot (default one-sided,symmetric,random-sign;
                          also five-phase, holomorphic-N, any registered one)
    --fit-max B           largest β of the slope fits (default 0.1; 0.3 suits fourth-order estimators)

  eqprop sweep batch-size | lr: short training runs over a grid; final errors and
  convergence trajectories plotted.
    --values LIST         batch sizes (default: the preset's × 1/4, 1/2, 1, 2, 4) or learning
                          rates of the first layer (default: the preset's × 0.1, 0.3, 1, 3, 10;
                          per-layer rates keep their ratios)
    --learner ep|bp|bptt|rbp|chl   what trains (default ep)
    short budget unless given: --epochs 1 --train-limit 5000 --test-limit 2000
    --points-per-epoch N  training-error points per epoch (default 10)
${EXPERIMENT_HELP} (default runs/sweep-<kind>-<preset>)

  On the job queue (many machines): each point is a job for \`eqprop worker\`, its result a row
  in the runs database; rerunning the same sweep queues only the points that are missing.
    --db URL              queue the points on this database (default: EQPROP_DB) and wait for them,
                          one progress line (done / running / queued / failed, which worker has
                          which point); then write the same files as a local sweep
    --detach              queue and return at once (prints the sweep's id)
  eqprop sweep status --id ID [--db URL]            a queued sweep's progress, point by point
  eqprop sweep collect --id ID [--db URL] [--out DIR]  write its outputs once it is done`;

const OPTIONS = {
  ...EXPERIMENT_OPTIONS,
  worker: { type: 'boolean' },
  betas: { type: 'string' },
  'per-decade': { type: 'string' },
  batches: { type: 'string' },
  'sweep-free-steps': { type: 'string' },
  'sweep-nudged-steps': { type: 'string' },
  values: { type: 'string' },
  learner: { type: 'string' },
  estimators: { type: 'string' },
  'fit-max': { type: 'string' },
  db: { type: 'string' },
  detach: { type: 'boolean' },
} as const;

const QUEUED_OPTIONS = { db: { type: 'string' }, id: { type: 'string' }, out: { type: 'string' } } as const;

const KINDS = ['beta', 'batch-size', 'lr'] as const;
type SweepKind = (typeof KINDS)[number];

export async function sweepCommand(argv: string[]): Promise<void> {
  if (argv[0] === '--worker') return sweepWorker();
  const [kind, ...rest] = argv;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (kind === 'status' || kind === 'collect') return queuedSweepCommand(kind, parseFlags(rest, QUEUED_OPTIONS), log);
  if (!(KINDS as readonly string[]).includes(kind))
    throw new ConfigError(`eqprop sweep needs one of ${[...KINDS, 'status', 'collect'].join(', ')} first, got "${kind ?? ''}"`);
  const flags = parseFlags(rest, OPTIONS);
  const plan = kind === 'beta' ? betaPlan(flags) : trainingPlan(kind as Exclude<SweepKind, 'beta'>, flags);
  return runSweep(plan, flags, log);
}

/** Point ids that sort and read well: beta-1e-4, lr-0.003, batch-size-50. */
function pointId(kind: string, v: number): string {
  return `${kind}-${Number(v.toPrecision(6))}`;
}

/** What a sweep is, in data: enough to rebuild its points and write its outputs (stored with a queued sweep). */
type Plan = BetaPlan | TrainingPlan;

interface BetaPlan {
  kind: 'beta';
  name: string;
  config: RunConfig;
  betas: number[];
  batches: number;
  freeSteps: number;
  nudgedSteps: number;
  /** Estimators compared (default: the three seed ones). */
  estimators?: string[];
  /** Largest β of the log-log slope fits. */
  fitMax?: number;
}

interface TrainingPlan {
  kind: 'batch-size' | 'lr';
  name: string;
  base: RunConfig;
  learner: LearnerKind;
  values: number[];
  pointsPerEpoch: number;
}

function betaPlan(flags: Flags): BetaPlan {
  const config = experimentConfig(flags);
  const betas = listFlag('betas', flags.betas) ?? logGrid(1e-4, 1, intFlag(flags, 'per-decade', 3));
  for (const b of betas) if (!(b > 0)) throw new ConfigError(`--betas must all be > 0, got ${b}`);
  const estimators = typeof flags.estimators === 'string' ? flags.estimators.split(',').map((e) => e.trim()) : undefined;
  estimators?.forEach(checkEstimatorName);
  const fitMax = numberFlag('fit-max', flags['fit-max']);
  if (fitMax !== undefined && !(fitMax > 0)) throw new ConfigError(`--fit-max expects a β > 0, got ${flags['fit-max']}`);
  return {
    kind: 'beta',
    name: config.preset ?? 'custom',
    config,
    betas,
    batches: intFlag(flags, 'batches', 4),
    freeSteps: intFlag(flags, 'sweep-free-steps', Math.max(10 * config.trainer.freeSteps, 300)),
    nudgedSteps: intFlag(flags, 'sweep-nudged-steps', Math.max(10 * config.trainer.nudgedSteps, 200)),
    ...(estimators ? { estimators } : {}),
    ...(fitMax !== undefined ? { fitMax } : {}),
  };
}

function trainingPlan(kind: 'batch-size' | 'lr', flags: Flags): TrainingPlan {
  const base = experimentConfig(flags, { epochs: '1', 'train-limit': '5000', 'test-limit': '2000' });
  const learner = (flags.learner as string | undefined) ?? 'ep';
  if (!(LEARNERS as readonly string[]).includes(learner)) throw new ConfigError(`--learner must be one of ${LEARNERS.join(', ')}, got "${learner}"`);
  const lrs = base.trainer.optimizer.lrs;
  const values =
    listFlag('values', flags.values) ??
    (kind === 'lr'
      ? [0.1, 0.3, 1, 3, 10].map((f) => Number((f * lrs[0]).toPrecision(6)))
      : [0.25, 0.5, 1, 2, 4].map((f) => Math.max(1, Math.round(f * base.batchSize))));
  for (const v of values) {
    if (!(v > 0) || (kind === 'batch-size' && !Number.isInteger(v)))
      throw new ConfigError(`--values must be ${kind === 'lr' ? 'positive numbers' : 'positive integers'}, got ${v}`);
  }
  return { kind, name: base.preset ?? 'custom', base, learner: learner as LearnerKind, values, pointsPerEpoch: intFlag(flags, 'points-per-epoch', 10) };
}

const label = (plan: TrainingPlan) => (plan.kind === 'lr' ? 'learning rate' : 'batch size');

/** The points of a plan, each with its result file under `out`. */
function planPoints(plan: Plan, out: string): SweepPoint[] {
  const point = (v: number, task: Task): SweepPoint => ({ id: pointId(plan.kind, v), file: join(out, 'points', `${pointId(plan.kind, v)}.json`), task });
  if (plan.kind === 'beta') {
    const { config, batches, freeSteps, nudgedSteps, estimators } = plan;
    return plan.betas.map((beta) => point(beta, { kind: 'beta', config, beta, batches, freeSteps, nudgedSteps, ...(estimators ? { estimators } : {}) }));
  }
  const lrs = plan.base.trainer.optimizer.lrs;
  return plan.values.map((v) => {
    const config: RunConfig = structuredClone(plan.base);
    if (plan.kind === 'lr') config.trainer.optimizer.lrs = lrs.map((l) => Number(((l * v) / lrs[0]).toPrecision(6)));
    else config.batchSize = v;
    return point(v, { kind: 'train', config, learner: plan.learner, name: `${label(plan)} ${v}`, pointsPerEpoch: plan.pointsPerEpoch });
  });
}

function describePlan(plan: Plan, out: string): string {
  if (plan.kind === 'beta') {
    return `eqprop sweep beta: ${plan.name}, ${plan.betas.length} values of β from ${plan.betas[0]} to ${plan.betas.at(-1)}, ${plan.batches} batches of ${plan.config.batchSize}, free phase ${plan.freeSteps} steps, nudged phases ${plan.nudgedSteps} steps; output ${out}`;
  }
  return `eqprop sweep ${plan.kind}: ${plan.name}, ${label(plan)} ∈ {${plan.values.join(', ')}}, ${plan.learner}, ${plan.base.epochs} epoch(s) on ${plan.base.data.trainLimit ?? 'all'} examples; output ${out}`;
}

async function runSweep(plan: Plan, flags: Flags, log: (line: string) => void): Promise<void> {
  const out = (flags.out as string) ?? join('runs', `sweep-${plan.kind}-${plan.name}`);
  const points = planPoints(plan, out);
  // --db URL or EQPROP_DB: the job queue (EQPROP_DB keeps the password off the command line)
  const url = resolveDbUrl(flags.db, { embedded: false });
  if (flags.detach && url === undefined) throw new ConfigError('--detach leaves a sweep on the job queue: give --db URL (or set EQPROP_DB)');
  if (url === undefined) {
    mkdirSync(out, { recursive: true });
    log(describePlan(plan, out));
    const t0 = Date.now();
    await runPoints(points, { workers: workerCount(flags), log });
    writeOutputs(
      plan,
      out,
      points.map((p) => readPoint(p)!.result),
      log,
      t0,
    );
    return;
  }
  const queue = await openQueue(url);
  try {
    const def = { kind: plan.kind, name: plan.name, spec: plan, points: points.map((p) => ({ pointId: p.id, task: p.task })) };
    const q = await enqueueSweep(queue, def);
    log(describePlan(plan, out));
    log(
      `sweep ${q.id}: ${q.queued} of ${q.total} point(s) queued${q.requeued ? `, ${q.requeued} failed one(s) queued again` : ''} on ${queue.safeUrl}; \`eqprop worker --db URL\` computes them`,
    );
    if (flags.detach) {
      log(`follow it with \`eqprop sweep status --id ${q.id}\`; write its outputs with \`eqprop sweep collect --id ${q.id}\``);
      return;
    }
    const t0 = Date.now();
    await waitForSweep(queue, q.id, log);
    await collectInto(queue, q.id, plan, out, log, t0);
  } finally {
    await queue.close();
  }
}

/** One progress line per change (a bar on a terminal) until every point is done or failed; failed points end it with their errors. */
async function waitForSweep(queue: JobQueue, id: string, log: (line: string) => void): Promise<void> {
  const tty = Boolean(process.stderr.isTTY);
  let last = '';
  for (;;) {
    const points = await sweepPoints(queue, id);
    const line = `sweep ${id}: ${formatSweepProgress(points)}`;
    if (line !== last) {
      if (tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
      else process.stderr.write(`${line}\n`);
      last = line;
    }
    const failed = points.filter((p) => p.status === 'failed');
    if (points.every((p) => p.status === 'done' || p.status === 'failed')) {
      if (tty) process.stderr.write('\n');
      if (failed.length) {
        throw new EqpropError(
          'E_SWEEP',
          `${failed.length} of ${points.length} point(s) of sweep ${id} failed: ${failed.map((p) => `${p.pointId}: ${p.error}`).join('; ')} (rerun the sweep to queue them again)`,
        );
      }
      log(`sweep ${id}: all ${points.length} point(s) done`);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Writes a queued sweep's point files and outputs from the database, as a local sweep writes them. */
async function collectInto(queue: JobQueue, id: string, plan: Plan, out: string, log: (line: string) => void, t0 = Date.now()): Promise<void> {
  const stored = await sweepPoints(queue, id, { results: true });
  const missing = stored.filter((p) => p.status !== 'done');
  if (missing.length) {
    throw new ConfigError(
      `sweep ${id} is not done: ${missing.length} of ${stored.length} point(s) missing (${missing.map((p) => `${p.pointId} ${p.status}`).join(', ')}); \`eqprop sweep status --id ${id}\` follows it`,
    );
  }
  const points = planPoints(plan, out);
  mkdirSync(join(out, 'points'), { recursive: true });
  points.forEach((p, i) =>
    atomicWrite(p.file, `${JSON.stringify({ spec: p.task, result: stored[i].result as TaskResult, seconds: stored[i].seconds ?? 0 } satisfies PointFile)}\n`),
  );
  writeOutputs(
    plan,
    out,
    stored.map((p) => p.result as TaskResult),
    log,
    t0,
  );
}

/** `eqprop sweep status|collect --id ID`: a queued sweep's progress, or its outputs. */
async function queuedSweepCommand(sub: 'status' | 'collect', flags: Flags, log: (line: string) => void): Promise<void> {
  if (typeof flags.id !== 'string') throw new ConfigError(`eqprop sweep ${sub} needs --id ID (printed when the sweep was queued)`);
  const queue = await openQueue(resolveDbUrl(flags.db, { embedded: true })!);
  try {
    const sweep = await getSweep(queue.db, flags.id);
    if (!sweep) throw new ConfigError(`no sweep "${flags.id}" in the runs database at ${queue.safeUrl}`);
    const plan = sweep.spec as Plan;
    if (sub === 'collect') {
      const out = (flags.out as string) ?? join('runs', `sweep-${plan.kind}-${plan.name}`);
      log(describePlan(plan, out));
      return await collectInto(queue, sweep.id, plan, out, log);
    }
    const points = await sweepPoints(queue, sweep.id);
    log(`sweep ${sweep.id} (${sweep.kind}, ${sweep.name}, queued ${sweep.created.toISOString()}): ${formatSweepProgress(points)}`);
    for (const p of points) {
      const detail =
        p.status === 'running'
          ? ` on ${p.worker}`
          : p.status === 'failed'
            ? `: ${p.error}`
            : p.status === 'done' && p.seconds !== null
              ? ` in ${p.seconds.toFixed(1)} s`
              : '';
      log(`  ${p.pointId}: ${p.status}${detail}`);
    }
  } finally {
    await queue.close();
  }
}

function writeOutputs(plan: Plan, out: string, results: TaskResult[], log: (line: string) => void, t0: number): void {
  if (plan.kind === 'beta') writeBetaSweep(plan, out, results as BetaPoint[], log, t0);
  else writeTrainingSweep(plan, out, results as LearningCurve[], log, t0);
}

function writeBetaSweep(plan: BetaPlan, out: string, results: BetaPoint[], log: (line: string) => void, t0: number): void {
  const { config, name, batches: count, freeSteps, nudgedSteps } = plan;
  const summary = summariseBetaSweep(results, { fitMax: plan.fitMax });
  const residual = Math.max(...results.flatMap((r) => r.freeResidual));
  const table = formatBetaSweepTable(summary);
  const perBeta = [
    `| β | ${summary.estimators.map((e) => `${e.estimator}: rel. error | cosine`).join(' | ')} |`,
    `|---|${summary.estimators.map(() => '---|---').join('|')}|`,
    ...summary.betas.map(
      (b, i) =>
        `| ${b} | ${summary.estimators.map((e) => `${fmt(e.relError[i].mean)} ± ${fmt(e.relError[i].std)} | ${e.cosine[i].mean.toFixed(6)}`).join(' | ')} |`,
    ),
  ].join('\n');
  const md = [
    `# β sweep: ${name}`,
    '',
    `EP's gradient estimates against recurrent backprop (the true gradient at the free equilibrium), ${count} fixed batches of ${config.batchSize}, mean ± std over batches. Free phase ${freeSteps} steps (largest last change ${residual.toExponential(1)}), nudged phases ${nudgedSteps} steps. float32 noise floor n/β with n = ${summary.noise.mean.toExponential(2)} (a one-sided estimate at β = 1e-6).`,
    '',
    table,
    '',
    perBeta,
    '',
  ].join('\n');
  atomicWrite(join(out, 'beta-sweep.md'), md);
  atomicWrite(
    join(out, 'beta-sweep.json'),
    `${JSON.stringify({ preset: config.preset, config, freeSteps, nudgedSteps, batches: count, summary, points: results }, null, 2)}\n`,
  );
  const plots = betaSweepPlots(summary, { title: name });
  for (const p of plots) writePlot(out, p); // and a PNG beside each
  log(`\n${table}\n`);
  for (const e of summary.estimators)
    log(`${e.estimator}: the error is smallest at β = ${e.best.beta} (${fmt(e.best.relError)})${e.fit ? `, log-log slope ${e.fit.slope.toFixed(2)}` : ''}`);
  log(
    `\nwrote ${join(out, 'beta-sweep.md')}, ${join(out, 'beta-sweep.json')}, ${plots.map((p) => join(out, `${p.name}.svg`)).join(', ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

function writeTrainingSweep(plan: TrainingPlan, out: string, curves: LearningCurve[], log: (line: string) => void, t0: number): void {
  const { kind, base, name, learner, values } = plan;
  const table = formatCurveTable(curves, { label: label(plan) });
  atomicWrite(
    join(out, `sweep-${kind}.md`),
    `# ${label(plan)} sweep: ${name} (${learner})\n\n${base.epochs} epoch(s), ${base.data.trainLimit ?? 'all'} training / ${base.data.testLimit ?? 'all'} test examples, seed ${base.seed}.\n\n${table}\n`,
  );
  atomicWrite(
    join(out, `sweep-${kind}.json`),
    `${JSON.stringify({ preset: base.preset, kind, learner, values, configs: planPoints(plan, out).map((p) => p.task.config), curves }, null, 2)}\n`,
  );
  const plots = [
    sweepResultPlot(values, curves, { title: `${name}: final error vs ${label(plan)}`, xLabel: label(plan), logX: true, name: `sweep-${kind}-final` }),
    ...learningCurvePlots(curves, { title: `${name}, ${label(plan)} sweep`, prefix: `sweep-${kind}` }),
  ];
  for (const p of plots) writePlot(out, p); // and a PNG beside each
  log(`\n${table}\n`);
  log(
    `wrote ${join(out, `sweep-${kind}.md`)}, ${join(out, `sweep-${kind}.json`)}, ${plots.map((p) => join(out, `${p.name}.svg`)).join(', ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : '—';
}
