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
import { ConfigError } from '@eqprop/core';
import { listFlag, parseFlags } from '../args.js';
import type { RunConfig } from '../config.js';
import { EXPERIMENT_HELP, EXPERIMENT_OPTIONS, experimentConfig, type Flags, intFlag, workerCount } from '../experiment-flags.js';
import { atomicWrite } from '../run-dir.js';
import { readPoint, runPoints, type SweepPoint, sweepWorker } from '../sweep-pool.js';

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

  eqprop sweep batch-size | lr: short training runs over a grid; final errors and
  convergence trajectories plotted.
    --values LIST         batch sizes (default: the preset's × 1/4, 1/2, 1, 2, 4) or learning
                          rates of the first layer (default: the preset's × 0.1, 0.3, 1, 3, 10;
                          per-layer rates keep their ratios)
    --learner ep|bp|bptt|rbp|chl   what trains (default ep)
    short budget unless given: --epochs 1 --train-limit 5000 --test-limit 2000
    --points-per-epoch N  training-error points per epoch (default 10)
${EXPERIMENT_HELP} (default runs/sweep-<kind>-<preset>)`;

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
} as const;

const KINDS = ['beta', 'batch-size', 'lr'] as const;
type SweepKind = (typeof KINDS)[number];

export async function sweepCommand(argv: string[]): Promise<void> {
  if (argv[0] === '--worker') return sweepWorker();
  const [kind, ...rest] = argv;
  if (!(KINDS as readonly string[]).includes(kind)) throw new ConfigError(`eqprop sweep needs one of ${KINDS.join(', ')} first, got "${kind ?? ''}"`);
  const flags = parseFlags(rest, OPTIONS);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (kind === 'beta') return betaSweep(flags, log);
  return trainingSweep(kind as Exclude<SweepKind, 'beta'>, flags, log);
}

function outDir(flags: Flags, kind: string, config: RunConfig): string {
  const out = (flags.out as string) ?? join('runs', `sweep-${kind}-${config.preset ?? 'custom'}`);
  mkdirSync(out, { recursive: true });
  return out;
}

/** Point ids that sort and read well: beta-1e-4, lr-0.003, batch-size-50. */
function pointId(kind: string, v: number): string {
  return `${kind}-${Number(v.toPrecision(6))}`;
}

async function betaSweep(flags: Flags, log: (line: string) => void): Promise<void> {
  const config = experimentConfig(flags);
  const betas = listFlag('betas', flags.betas) ?? logGrid(1e-4, 1, intFlag(flags, 'per-decade', 3));
  for (const b of betas) if (!(b > 0)) throw new ConfigError(`--betas must all be > 0, got ${b}`);
  const count = intFlag(flags, 'batches', 4);
  const freeSteps = intFlag(flags, 'sweep-free-steps', Math.max(10 * config.trainer.freeSteps, 300));
  const nudgedSteps = intFlag(flags, 'sweep-nudged-steps', Math.max(10 * config.trainer.nudgedSteps, 200));
  const name = config.preset ?? 'custom';
  const out = outDir(flags, 'beta', config);
  log(
    `eqprop sweep beta: ${name}, ${betas.length} values of β from ${betas[0]} to ${betas.at(-1)}, ${count} batches of ${config.batchSize}, free phase ${freeSteps} steps, nudged phases ${nudgedSteps} steps; output ${out}`,
  );
  const points: SweepPoint[] = betas.map((beta) => ({
    id: pointId('beta', beta),
    file: join(out, 'points', `${pointId('beta', beta)}.json`),
    task: { kind: 'beta', config, beta, batches: count, freeSteps, nudgedSteps },
  }));
  const t0 = Date.now();
  await runPoints(points, { workers: workerCount(flags), log });
  const results = points.map((p) => readPoint<BetaPoint>(p)!.result);
  const summary = summariseBetaSweep(results);
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
  for (const p of plots) atomicWrite(join(out, `${p.name}.svg`), p.svg);
  log(`\n${table}\n`);
  for (const e of summary.estimators)
    log(`${e.estimator}: the error is smallest at β = ${e.best.beta} (${fmt(e.best.relError)})${e.fit ? `, log-log slope ${e.fit.slope.toFixed(2)}` : ''}`);
  log(
    `\nwrote ${join(out, 'beta-sweep.md')}, ${join(out, 'beta-sweep.json')}, ${plots.map((p) => join(out, `${p.name}.svg`)).join(', ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

async function trainingSweep(kind: 'batch-size' | 'lr', flags: Flags, log: (line: string) => void): Promise<void> {
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
  const name = base.preset ?? 'custom';
  const out = outDir(flags, kind, base);
  const pointsPerEpoch = intFlag(flags, 'points-per-epoch', 10);
  const label = kind === 'lr' ? 'learning rate' : 'batch size';
  log(
    `eqprop sweep ${kind}: ${name}, ${label} ∈ {${values.join(', ')}}, ${learner}, ${base.epochs} epoch(s) on ${base.data.trainLimit ?? 'all'} examples; output ${out}`,
  );
  const points: SweepPoint[] = values.map((v) => {
    const config: RunConfig = structuredClone(base);
    if (kind === 'lr') config.trainer.optimizer.lrs = lrs.map((l) => Number(((l * v) / lrs[0]).toPrecision(6)));
    else config.batchSize = v;
    const id = pointId(kind, v);
    return {
      id,
      file: join(out, 'points', `${id}.json`),
      task: { kind: 'train', config, learner: learner as LearnerKind, name: `${label} ${v}`, pointsPerEpoch },
    };
  });
  const t0 = Date.now();
  await runPoints(points, { workers: workerCount(flags), log });
  const curves = points.map((p) => readPoint<LearningCurve>(p)!.result);
  const table = formatCurveTable(curves, { label });
  atomicWrite(
    join(out, `sweep-${kind}.md`),
    `# ${label} sweep: ${name} (${learner})\n\n${base.epochs} epoch(s), ${base.data.trainLimit ?? 'all'} training / ${base.data.testLimit ?? 'all'} test examples, seed ${base.seed}.\n\n${table}\n`,
  );
  atomicWrite(
    join(out, `sweep-${kind}.json`),
    `${JSON.stringify({ preset: base.preset, kind, learner, values, configs: points.map((p) => p.task.config), curves }, null, 2)}\n`,
  );
  const plots = [
    sweepResultPlot(values, curves, { title: `${name}: final error vs ${label}`, xLabel: label, logX: true, name: `sweep-${kind}-final` }),
    ...learningCurvePlots(curves, { title: `${name}, ${label} sweep`, prefix: `sweep-${kind}` }),
  ];
  for (const p of plots) atomicWrite(join(out, `${p.name}.svg`), p.svg);
  log(`\n${table}\n`);
  log(
    `wrote ${join(out, `sweep-${kind}.md`)}, ${join(out, `sweep-${kind}.json`)}, ${plots.map((p) => join(out, `${p.name}.svg`)).join(', ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : '—';
}
