import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type LearningCurve, learningCurvePlots } from '@eqprop/analysis';
import { ConfigError, DataFormatError } from '@eqprop/core';
import { atomicWrite, type EpochMetrics, RunDir, writePlot } from '@eqprop/experiments';
import { parseFlags } from '../args.js';
import { type PaperFigure, paperFigure } from '../paper-errors.js';

export const RESULTS_HELP = `eqprop results --runs DIR [--out DIR]
  One markdown page per preset from the run folders in --runs (each with config.json and
  metrics.jsonl, as \`eqprop train\` writes them): final and best test error (with the epoch),
  epochs, time per epoch, the learning curves (SVG + PNG), the config, and the paper's figure
  beside it; and an index page (README.md) with one line per preset. A preset with several run
  folders gets the one with the most epochs (the newest of those); the others are listed on its page.
  --runs DIR             the folder holding run folders (say runs/)
  --out DIR              where the pages go (default docs/results)`;

const OPTIONS = { runs: { type: 'string' }, out: { type: 'string' } } as const;

/** One run folder as the results pages read it. */
export interface RunResult {
  folder: string;
  /** The page's name: the preset, with the algorithm where it is not EP (`ernoult2019-p1h-bptt`). */
  key: string;
  preset: string;
  algorithm: string;
  config: Record<string, unknown>;
  epochs: EpochMetrics[];
}

/** The numbers of a results page, all from metrics.jsonl. */
export interface RunNumbers {
  finalTestError: number;
  bestTestError: number;
  bestEpoch: number;
  epochs: number;
  secondsPerEpoch: number;
}

export async function resultsCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, OPTIONS);
  const runsDir = flags.runs;
  if (typeof runsDir !== 'string' || runsDir === '') throw new ConfigError('eqprop results expects --runs DIR: the folder holding run folders (say runs/)');
  if (!existsSync(runsDir) || !statSync(runsDir).isDirectory()) throw new ConfigError(`--runs "${runsDir}" is not a folder`);
  const out = typeof flags.out === 'string' ? flags.out : join('docs', 'results');
  const runs = readRuns(runsDir);
  if (runs.length === 0)
    throw new ConfigError(`--runs "${runsDir}" holds no run folder with an epoch (config.json and metrics.jsonl, as \`eqprop train\` writes)`);
  mkdirSync(out, { recursive: true });
  const byKey = new Map<string, RunResult[]>();
  for (const r of runs) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const index: string[] = [];
  for (const key of [...byKey.keys()].sort()) {
    // the longest run, the newest of equals (run folder names end in their start time)
    const group = byKey.get(key)!.sort((a, b) => a.epochs.length - b.epochs.length || a.folder.localeCompare(b.folder));
    const chosen = group.at(-1)!;
    const numbers = runNumbers(chosen.epochs);
    const plots = learningCurvePlots([runCurve(chosen)], { title: key, prefix: key });
    for (const p of plots) writePlot(out, p);
    const others = group.slice(0, -1).map((r) => r.folder);
    atomicWrite(join(out, `${key}.md`), formatPage(chosen, numbers, paperFigure(chosen.preset, chosen.algorithm), plots, others));
    index.push(indexRow(chosen, numbers, paperFigure(chosen.preset, chosen.algorithm)));
  }
  atomicWrite(join(out, 'README.md'), formatIndex(index, runsDir));
  process.stdout.write(`wrote ${byKey.size} results page${byKey.size === 1 ? '' : 's'} and README.md to ${out}\n`);
}

/** The run folders in `dir` that hold at least one epoch (a run killed before its first epoch has none). */
export function readRuns(dir: string): RunResult[] {
  const found: RunResult[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!existsSync(join(path, 'config.json')) || !existsSync(join(path, 'metrics.jsonl'))) continue;
    const run = RunDir.open(path);
    const config = run.readJson<Record<string, unknown>>('config.json');
    const epochs = readMetrics(run.file('metrics.jsonl'));
    if (epochs.length === 0) continue;
    const preset = typeof config.preset === 'string' ? config.preset : 'custom';
    const algorithm = typeof config.algorithm === 'string' ? config.algorithm : 'ep';
    found.push({ folder: path, key: algorithm === 'ep' ? preset : `${preset}-${algorithm}`, preset, algorithm, config, epochs });
  }
  return found;
}

function readMetrics(file: string): EpochMetrics[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    try {
      return JSON.parse(line) as EpochMetrics;
    } catch {
      throw new DataFormatError(`${file} line ${i + 1} is not valid JSON`);
    }
  });
}

/** Final and best test error, epochs, mean training seconds per epoch (evaluation excluded, as in summary.json). */
export function runNumbers(epochs: readonly EpochMetrics[]): RunNumbers {
  const last = epochs[epochs.length - 1];
  const best = epochs.reduce((a, b) => (b.testError < a.testError ? b : a), last);
  return {
    finalTestError: last.testError,
    bestTestError: best.testError,
    bestEpoch: best.epoch,
    epochs: epochs.length,
    secondsPerEpoch: epochs.reduce((s, m) => s + m.seconds, 0) / epochs.length,
  };
}

function runCurve(r: RunResult): LearningCurve {
  return {
    name: r.key,
    train: r.epochs.map((m) => ({ epoch: m.epoch, trainError: m.trainError, trainLoss: m.trainLoss })),
    test: r.epochs.map((m) => ({ epoch: m.epoch, testError: m.testError, testLoss: m.testLoss })),
    seconds: r.epochs.reduce((s, m) => s + m.seconds, 0),
  };
}

export const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

/** Seconds as the README's table gives them: "47 s", "24.3 min". */
export function duration(s: number): string {
  return s < 600 ? `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

function paperCell(p: PaperFigure | undefined): string {
  return p?.testError === undefined ? '—' : `${p.approx ? '~' : ''}${(100 * p.testError).toFixed(p.approx ? 0 : 1)} % (${p.paper}, ${p.where})`;
}

function indexRow(r: RunResult, n: RunNumbers, p: PaperFigure | undefined): string {
  return `| [\`${r.key}\`](${r.key}.md) | ${pct(n.finalTestError)} (${pct(n.bestTestError)}, ${n.bestEpoch}) | ${n.epochs} | ${duration(n.secondsPerEpoch)} | ${paperCell(p)} |`;
}

function formatIndex(rows: string[], runsDir: string): string {
  return [
    '# Results, one page per preset',
    '',
    `Generated by \`eqprop results --runs ${runsDir}\` from the run folders there; every number comes from a run's metrics.jsonl.`,
    '',
    '| preset | final test error (best, epoch) | epochs | time per epoch | paper |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** The config lines a reader compares with the paper: the network, the phases, the estimator, the optimizer. */
function configSummary(c: Record<string, unknown>): string[] {
  const trainer = (c.trainer ?? {}) as Record<string, unknown>;
  const model = (c.model ?? {}) as Record<string, unknown>;
  const data = (c.data ?? {}) as Record<string, unknown>;
  const json = (v: unknown) => (v === undefined ? '—' : `\`${JSON.stringify(v)}\``);
  return [
    `- data: ${json(data.dataset ?? 'mnist')}${data.trainLimit !== undefined ? `, first ${data.trainLimit} training examples` : ''}${data.testLimit !== undefined ? `, first ${data.testLimit} test examples` : ''}`,
    `- model: ${json(model.kind ?? 'mlp')}${model.sizes ? `, layers ${json(model.sizes)}` : ''}${model.activation ? `, activation ${json(model.activation)}` : ''}`,
    `- epochs ${json(c.epochs)}, batch size ${json(c.batchSize)}, seed ${json(c.seed)}, algorithm ${json(c.algorithm ?? 'ep')}`,
    `- estimator ${json(trainer.estimator)}, β ${json(trainer.beta)}, optimizer ${json(trainer.optimizer)}`,
    `- free phase ${json(trainer.freeSteps)} steps, nudged phase ${json(trainer.nudgedSteps)} steps, solver ${json(trainer.solver)}`,
  ];
}

function paperLine(p: PaperFigure | undefined): string {
  if (!p) return 'Paper: this preset is not from a paper.';
  if (p.testError === undefined) return `Paper: ${p.paper} (${p.url}); its figure for this setting was not in the pages we could read, so it is left empty.`;
  return `Paper: ${p.paper}, ${p.where} (${p.url}).`;
}

export function formatPage(r: RunResult, n: RunNumbers, paper: PaperFigure | undefined, plots: { name: string }[], others: string[]): string {
  const lines = [
    `# \`${r.key}\``,
    '',
    `From the run folder \`${r.folder}\` (generated by \`eqprop results\`).`,
    '',
    '| | this run | paper |',
    '|---|---|---|',
    `| final test error | ${pct(n.finalTestError)} | ${paperCell(paper)} |`,
    `| best test error (epoch) | ${pct(n.bestTestError)} (${n.bestEpoch}) | |`,
    `| epochs | ${n.epochs} | |`,
    `| time per epoch (training) | ${duration(n.secondsPerEpoch)} | |`,
    '',
    paperLine(paper),
    '',
    ...plots.map((p) => `![${p.name}](${p.name}.svg) ([PNG](${p.name}.png))`),
    '',
    '## Config',
    '',
    ...configSummary(r.config),
    '',
    '| epoch | train error | test error | seconds |',
    '|---|---|---|---|',
    ...r.epochs.map((m) => `| ${m.epoch} | ${pct(m.trainError)} | ${pct(m.testError)} | ${m.seconds.toFixed(1)} |`),
  ];
  if (others.length) lines.push('', 'Other run folders of this preset:', '', ...others.map((f) => `- \`${f}\``));
  return `${lines.join('\n')}\n`;
}
