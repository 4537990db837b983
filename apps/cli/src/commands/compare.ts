import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatCurveTable, LEARNER_NAMES, type LearnerKind, type LearningCurve, learningCurvePlots, parseLearners } from '@eqprop/analysis';
import { atomicWrite, type RunConfig, readPoint, runPoints, type SweepPoint, writePlot } from '@eqprop/experiments';
import { parseFlags } from '../args.js';
import { EXPERIMENT_HELP, EXPERIMENT_OPTIONS, experimentConfig, intFlag, workerCount } from '../experiment-flags.js';

export const COMPARE_HELP = `eqprop compare --preset NAME [--with bp,bptt,rbp,chl] [flags]
  Trains EP and the chosen baselines from the same initial weights (same model seed, optimizer,
  learning rates and data order), one worker process each, and writes learning curves (SVG) and
  a results table (markdown + JSON). A learner already finished in --out is not trained again.
  --with LIST            baselines: bp (feedforward twin by backprop), bptt, rbp (recurrent
                         backprop), chl (contrastive Hebbian); default all that fit the preset
  --points-per-epoch N   training-error points per epoch on the curves (default 10)
${EXPERIMENT_HELP} (default runs/compare-<preset>)`;

const OPTIONS = { ...EXPERIMENT_OPTIONS, with: { type: 'string' } } as const;

/** The baselines that can run on a config: bp needs a layered MLP, chl an MSE output, bptt/rbp/chl differentiable dynamics. */
export function applicableBaselines(config: RunConfig): LearnerKind[] {
  const m = config.model as { kind: string; cost?: string };
  const s = config.trainer.solver;
  const dynamics = s.kind === 'gradient-descent' || s.schedule === 'synchronous';
  return (['bp', 'bptt', 'rbp', 'chl'] as const).filter((k) => (k === 'bp' ? m.kind === 'mlp' : dynamics && (k !== 'chl' || m.cost === 'mse')));
}

export async function compareCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, OPTIONS);
  const config = experimentConfig(flags);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  let baselines: LearnerKind[];
  if (typeof flags.with === 'string') baselines = parseLearners(flags.with).filter((k) => k !== 'ep');
  else {
    baselines = applicableBaselines(config);
    const left = (['bp', 'bptt', 'rbp', 'chl'] as const).filter((k) => !baselines.includes(k));
    if (left.length) log(`(${left.join(', ')} left out: not applicable to this preset)`);
  }
  const learners: LearnerKind[] = ['ep', ...baselines];
  const pointsPerEpoch = intFlag(flags, 'points-per-epoch', 10);
  const name = config.preset ?? 'custom';
  const out = (flags.out as string) ?? join('runs', `compare-${name}`);
  mkdirSync(out, { recursive: true });
  log(`eqprop compare: ${name} — ${learners.map((k) => LEARNER_NAMES[k]).join(' vs ')}`);
  log(
    `${config.epochs} epochs, batch ${config.batchSize}, ${config.data.trainLimit ?? 'all'} training / ${config.data.testLimit ?? 'all'} test examples, seed ${config.seed}; output ${out}`,
  );

  const points: SweepPoint[] = learners.map((learner) => ({
    id: learner,
    file: join(out, 'points', `${learner}.json`),
    task: { kind: 'train', config, learner, name: LEARNER_NAMES[learner], pointsPerEpoch },
  }));
  const t0 = Date.now();
  await runPoints(points, { workers: workerCount(flags), log });
  const curves = points.map((p) => readPoint<LearningCurve>(p)!.result);

  const table = formatCurveTable(curves, { label: 'algorithm' });
  const header = `# ${name}: EP vs baselines\n\n${config.description ?? ''}\n\n${config.epochs} epochs, batch size ${config.batchSize}, ${config.data.trainLimit ?? 'all'} training examples, test error on ${config.data.testLimit ?? 'all'} test examples; all learners start from the weights of seed ${config.seed}.\n\n`;
  atomicWrite(join(out, 'compare.md'), `${header}${table}\n`);
  atomicWrite(join(out, 'compare.json'), `${JSON.stringify({ preset: config.preset, config, learners, curves }, null, 2)}\n`);
  const plots = learningCurvePlots(curves, { title: name, prefix: 'compare' });
  for (const p of plots) writePlot(out, p); // and a PNG beside each
  log(`\n${table}\n`);
  log(
    `wrote ${join(out, 'compare.md')}, ${join(out, 'compare.json')}, ${plots.map((p) => join(out, `${p.name}.svg`)).join(', ')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}
