import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkGduOptions, formatGduTable, gduCheck, gduGroups, gduPlots, gduStats, selectTraces } from '@eqprop/analysis';
import { ConfigError, Rng, setupBackend } from '@eqprop/core';
import { batches } from '@eqprop/datasets';
import { atomicWrite, getPreset, loadData, mergeConfig, type RunConfig, RunDir, requireSyncReads, validateConfig, writePlot } from '@eqprop/experiments';
import { makeSolver } from '@eqprop/learning';
import { buildModel, loadParams, type ModelConfig, type SavedParams } from '@eqprop/models';
import { numberFlag, parseFlags } from '../args.js';

export const GDU_HELP = `eqprop gdu [--preset NAME | --run DIR] [flags]
  The GDU check of Ernoult et al. 2019 on one training batch: EP's updates during the K nudged
  steps against BPTT's gradients over the last K of the T free steps, step by step. Prints, per
  layer, the normalised RMSE and the sign agreement, and writes SVG plots (EP dashed, BPTT solid).
  --preset NAME        default ernoult2019-p1h (a preset with fixed-point synchronous or
                       gradient-descent dynamics)
  --run DIR            the weights (and config) of a run folder's checkpoint instead
  --batch-size N       examples in the batch (default: the preset's)
  --beta B             default 0.01 (the paper's GDU figures) or the preset's β if smaller
  --free-steps T  --nudged-steps K      override the preset's T and K (K ≤ T)
  --layers LIST        what to plot: layer numbers and/or names (s1, W0_1, b1, …); default all
  --plot-count N       components drawn per plot (default 4)
  --seed N  --backend NAME  --data-dir DIR
  --out DIR            where gdu.txt, gdu.json and the SVG files go (default runs/gdu-<preset>)`;

const GDU_BETA = 0.01;

const OPTIONS = {
  preset: { type: 'string' },
  run: { type: 'string' },
  'batch-size': { type: 'string' },
  beta: { type: 'string' },
  'free-steps': { type: 'string' },
  'nudged-steps': { type: 'string' },
  layers: { type: 'string' },
  'plot-count': { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  'data-dir': { type: 'string' },
  out: { type: 'string' },
} as const;

export async function gduCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, OPTIONS);
  const n = (name: string) => numberFlag(name, flags[name]);
  const runDir = typeof flags.run === 'string' ? RunDir.open(flags.run) : undefined;
  const base: RunConfig = runDir ? validateConfig(runDir.readJson('config.json')) : getPreset((flags.preset as string) ?? 'ernoult2019-p1h');
  const over = {
    batchSize: n('batch-size'),
    seed: n('seed'),
    backend: flags.backend,
    data: { dataDir: flags['data-dir'] },
    trainer: { freeSteps: n('free-steps'), nudgedSteps: n('nudged-steps') },
  };
  const config = validateConfig(mergeConfig(base, over));
  // GDU is a statement about β → 0: by default the β of the paper's GDU figures, not the (larger) training β
  const beta = n('beta') ?? Math.min(GDU_BETA, config.trainer.beta);
  const { freeSteps, nudgedSteps } = config.trainer;
  checkGduOptions({ freeSteps, nudgedSteps, beta }); // K > T or β = 0 fail here, before any work
  const count = n('plot-count') ?? 4;
  const layers =
    typeof flags.layers === 'string'
      ? flags.layers
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  if (flags.layers !== undefined && !layers?.length)
    throw new ConfigError(`--layers expects a comma-separated list of layer numbers or names, got "${flags.layers}"`);

  await setupBackend(config.backend);
  requireSyncReads('eqprop gdu');
  const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
  if (runDir) loadParams(net.params, runDir.readJson<{ params: SavedParams }>('checkpoint.json').params);
  selectTraces(gduGroups(net), layers); // so does an unknown layer
  const { train } = await loadData({ ...config.data, testLimit: 1 });
  const batch = batches(train, config.batchSize, { rng: new Rng(config.seed), flatten: config.data.flatten }).next().value!;

  const t0 = Date.now();
  const result = gduCheck(net, batch.x, batch.y, { solver: makeSolver(config.trainer.solver), freeSteps, nudgedSteps, beta });
  const seconds = (Date.now() - t0) / 1000;
  batch.x.dispose();
  batch.y.dispose();
  const stats = gduStats(result);
  const name = runDir ? `run ${runDir.path}` : (config.preset ?? 'custom');
  const header = [
    `GDU check (Ernoult et al. 2019): ${name}, ${config.data.dataset} batch of ${config.batchSize}, T ${freeSteps}, K ${nudgedSteps}, β ${beta}${beta !== config.trainer.beta ? ` (training β ${config.trainer.beta})` : ''}, ${config.trainer.solver.kind}`,
    `free phase: largest change of one more step ${result.freeResidual.toExponential(2)}${
      result.freeResidual / (Math.abs(beta) * result.dt) > 1e-3 ? '  (not converged for this β: its own motion mixes into EP’s increments)' : ''
    }`,
    `EP: ΔEP(k) of the nudged steps; BPTT: −∇(k) of the last steps; per component sqrt(Σ_k (Δ−∇)² / max(Σ_k Δ², Σ_k ∇²)); ${seconds.toFixed(1)} s`,
  ];
  const table = formatGduTable(stats);
  process.stdout.write(`${header.join('\n')}\n\n${table}\n`);

  const out = (flags.out as string) ?? join('runs', `gdu-${config.preset ?? 'custom'}`);
  mkdirSync(out, { recursive: true });
  atomicWrite(join(out, 'gdu.txt'), `${header.join('\n')}\n\n${table}\n`);
  const files = gduPlots(result, { layers, count }).map((p) => writePlot(out, p)); // and a PNG beside each
  const summary = {
    preset: config.preset,
    run: runDir?.path,
    batchSize: config.batchSize,
    freeSteps,
    nudgedSteps,
    beta,
    solver: config.trainer.solver,
    seed: config.seed,
    freeResidual: result.freeResidual,
    seconds,
    stats,
  };
  atomicWrite(join(out, 'gdu.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(
    `\nwrote ${join(out, 'gdu.txt')}, ${join(out, 'gdu.json')} and ${files.length} plots (${files.map((f) => f.split('/').pop()).join(', ')})\n`,
  );
}
