import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, Rng } from '@eqprop/core';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { makeSolver } from '@eqprop/learning';
import type { EnergyNetwork } from '@eqprop/energies';
import { getPreset, presetNames } from '../presets/index.js';
import { mergeConfig, validateConfig, type RunConfig } from '../config.js';
import { createSession, trainRun } from '../training-run.js';
import { RunDir } from '../run-dir.js';
import { matmulRate, medianMs, samplePeakMemory } from './measure.js';
import { parallelCase } from './parallel-case.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** Larger is better (for --compare). */
  higherIsBetter: boolean;
  detail?: Record<string, unknown>;
}

export interface BenchContext {
  quick: boolean;
  log: (line: string) => void;
}

export interface BenchCase {
  name: string;
  run(ctx: BenchContext): BenchResult[] | Promise<BenchResult[]>;
}

/** FLOPs of one relaxation step: a coupling's matmul runs once per free layer it feeds (static fields are per batch, not per step). */
function flopsPerStep(net: EnergyNetwork, batch: number): number {
  let flops = 0;
  for (const t of net.terms) {
    const w = (t as { weight?: tf.Tensor2D }).weight;
    if (!w || w.rank !== 2) continue;
    const fedLayers = t.layers.filter((k) => k > 0 && !t.isStaticFor(k)).length;
    flops += 2 * batch * w.shape[0] * w.shape[1] * fedLayers;
  }
  return flops;
}

function relaxationCase(label: string, model: ModelConfig, solverConfig: RunConfig['trainer']['solver'], batch: number, steps: number): BenchCase {
  return {
    name: `relax/${label}/b${batch}`,
    run: () => {
      const net = buildModel(model, new Rng(1));
      const solver = makeSolver(solverConfig);
      const input = (model.sizes as number[])[0];
      const x = tf.randomUniform([batch, input]);
      const bound = net.bind(x);
      const init = net.zeroState(batch);
      const ms = medianMs(() => {
        const r = solver.relax(bound, init, { maxSteps: steps });
        r.state.forEach((t) => t.dispose());
      }, 5, 1);
      const rate = matmulRate(batch, (model.sizes as number[])[1], (model.sizes as number[])[1]);
      const gflops = (flopsPerStep(net, batch) * steps) / (ms * 1e6);
      init.forEach((t) => t.dispose());
      bound.dispose();
      x.dispose();
      samplePeakMemory();
      return [
        { name: `relax/${label}/b${batch}/steps-per-s`, value: (steps * 1000) / ms, unit: 'steps/s', higherIsBetter: true },
        { name: `relax/${label}/b${batch}/gflops`, value: gflops, unit: 'GFLOP/s', higherIsBetter: true },
        {
          name: `relax/${label}/b${batch}/efficiency`,
          value: gflops / rate,
          unit: 'ratio',
          higherIsBetter: true,
          detail: { matmulRateSameShape: rate, note: 'relaxation GFLOP/s over the backend matmul rate of a batch×n by n×n product, measured in the same run' },
        },
      ];
    },
  };
}

/** One epoch of a preset on the full MNIST (or 100 batches, extrapolated, when quick): seconds and test accuracy. */
function epochCase(preset: string): BenchCase {
  return { name: `epoch/${preset}`, run: (ctx) => runEpoch(preset, ctx) };
}

async function runEpoch(preset: string, ctx: BenchContext): Promise<BenchResult[]> {
  const base = getPreset(preset);
  const config = validateConfig(mergeConfig(base, { epochs: 1, ...(ctx.quick ? { maxBatches: 100 } : {}) }));
  const session = await createSession(config);
  const dir = mkdtempSync(join(tmpdir(), 'eqprop-bench-'));
  try {
    const runDir = new RunDir(dir);
    runDir.writeJson('config.json', config);
    const history = await trainRun(session, { runDir, resume: false, quiet: true, log: () => {} });
    samplePeakMemory();
    const m = history[0];
    const batchesRun = ctx.quick ? 100 : Math.floor(session.train.count / config.batchSize);
    const perEpoch = (m.seconds * Math.floor(session.train.count / config.batchSize)) / batchesRun;
    return [
      { name: `epoch/${preset}/seconds-per-epoch`, value: perEpoch, unit: 's', higherIsBetter: false, detail: { measuredBatches: batchesRun, extrapolated: ctx.quick, meanFreeSteps: m.meanFreeSteps } },
      { name: `epoch/${preset}/test-accuracy-after-1-epoch`, value: 1 - m.testError, unit: 'ratio', higherIsBetter: true, detail: { partialEpoch: ctx.quick } },
    ];
  } finally {
    session.trainer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const MLP_2H: ModelConfig = { kind: 'mlp', sizes: [784, 500, 500, 10], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse', init: 'glorot' };

/** The fixed suite: relaxation throughput at batch 20, 100, 500, then one epoch of each paper preset. */
export function defaultSuite(): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const batch of [20, 100, 500]) {
    cases.push(relaxationCase('mlp-784-500-500-10-gd', MLP_2H, { kind: 'gradient-descent', stepSize: 0.5 }, batch, 20));
    cases.push(relaxationCase('mlp-784-500-500-10-fp-alt', MLP_2H, { kind: 'fixed-point', schedule: 'alternating' }, batch, 20));
  }
  cases.push(parallelCase('laborieux2021-mlp'), parallelCase('scellier2017-1h'));
  for (const preset of ['laborieux2021-mlp', 'scellier2017-1h', 'ernoult2019-p1h']) {
    if (presetNames().includes(preset)) cases.push(epochCase(preset));
  }
  return cases;
}

/** Registers more cases (the convnet file adds its own). */
export const extraCases: BenchCase[] = [];
