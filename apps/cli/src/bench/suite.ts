import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Batch, Rng, tf } from '@eqprop/core';
import { batches } from '@eqprop/datasets';
import { ConvCoupling, convOutputSize, type EnergyNetwork } from '@eqprop/energies';
import { createSession, getPreset, mergeConfig, presetNames, type RunConfig, RunDir, trainRun, validateConfig } from '@eqprop/experiments';
import { makeSolver } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { acceleratorCases } from './accelerator-cases.js';
import { floorCase } from './floor-case.js';
import { kernelsEpochCase, kernelsFloorCase } from './kernels-case.js';
import { matmulRate, medianMs, samplePeakMemory } from './measure.js';
import { parallelCase } from './parallel-case.js';
import { queueCase } from './queue-case.js';
import { transposeCase } from './transpose-case.js';

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

/**
 * FLOPs of one relaxation step: a dense coupling's matmul runs once per free layer it feeds; a
 * convolution with a free lower layer runs forward (upper field) and transposed (lower field).
 * Static fields (the input's projection or convolution) are per batch, not per step.
 */
function flopsPerStep(net: EnergyNetwork, batch: number): number {
  let flops = 0;
  for (const t of net.terms) {
    if (t instanceof ConvCoupling) {
      if (t.isStaticFor(t.upper)) continue;
      const [kh, kw, cin, cout] = t.kernel.shape;
      const h = convOutputSize(t.inputShape[0], kh, t.geometry);
      const w = convOutputSize(t.inputShape[1], kw, t.geometry);
      flops += 2 * 2 * batch * h * w * kh * kw * cin * cout;
      continue;
    }
    const w = (t as { weight?: tf.Tensor2D }).weight;
    if (w?.rank !== 2) continue;
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
      const x = tf.randomUniform([batch, ...net.inputShape]);
      const bound = net.bind(x);
      const init = net.zeroState(batch);
      const ms = medianMs(
        () => {
          const r = solver.relax(bound, init, { maxSteps: steps });
          r.state.forEach((t) => t.dispose());
        },
        5,
        1,
      );
      // the reference rate: the backend's matmul at this batch and the width of the first hidden layer
      const width = net.layerShapes[0].reduce((a, b) => a * b, 1);
      const side = Math.min(width, 1024);
      const rate = matmulRate(batch, side, side);
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

/** One epoch of a preset on the full MNIST (or 100 batches, extrapolated, when quick): seconds and test accuracy; optionally with other trainer settings. */
function epochCase(preset: string, trainer: Partial<RunConfig['trainer']> = {}, label?: string): BenchCase {
  const name = label ? `epoch/${preset}/${label}` : `epoch/${preset}`;
  return { name, run: (ctx) => runEpoch(preset, name, trainer, ctx) };
}

async function runEpoch(preset: string, name: string, trainer: Partial<RunConfig['trainer']>, ctx: BenchContext): Promise<BenchResult[]> {
  const base = getPreset(preset);
  const config = validateConfig(mergeConfig(base, { epochs: 1, trainer, ...(ctx.quick ? { maxBatches: 100 } : {}) }));
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
      {
        name: `${name}/seconds-per-epoch`,
        value: perEpoch,
        unit: 's',
        higherIsBetter: false,
        detail: { measuredBatches: batchesRun, extrapolated: ctx.quick, meanFreeSteps: m.meanFreeSteps },
      },
      { name: `${name}/test-accuracy-after-1-epoch`, value: 1 - m.testError, unit: 'ratio', higherIsBetter: true, detail: { partialEpoch: ctx.quick } },
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
  const conv = getPreset('ernoult2019-conv');
  for (const [batch, steps] of [
    [20, 10],
    [100, 5],
    [500, 2],
  ]) {
    cases.push(relaxationCase('conv-ernoult2019', conv.model as ModelConfig, conv.trainer.solver, batch, steps));
  }
  // the free phase stopped on a residual of 1e-4: the same equilibrium as T = 200 in fewer steps (the
  // alternating schedule is faster still but, through max-pooling, settles in another equilibrium)
  // the lower field of the second conv layer: padded transposed convolution against one per kernel row
  cases.push(transposeCase('ernoult2019-conv'));
  cases.push(batchCase('ernoult2019-conv'), batchCase('ernoult2019-conv', { tol: 1e-4 }, 'tol1e-4'));
  // the tolerance per example (settled examples leave the batch), 10× tighter: per-example stops at
  // 1e-4 cut some slowly settling examples short, 1e-5 matches T = 300's gradients (cosine ≥ 0.99995)
  cases.push(batchCase('ernoult2019-conv', { tol: 1e-5, tolPerExample: true }, 'tol1e-5-per-example'));
  // symmetric nudging (two nudged phases) and the CE readout, synchronous against alternating
  // updates: alternating ones descend the energy at every half-step and settle in about half the steps
  const alternatingConv = { kind: 'fixed-point', schedule: 'alternating' } as const;
  cases.push(batchCase('laborieux2021-mnist', { tol: 1e-5, tolPerExample: true }, 'tol1e-5-per-example'));
  cases.push(batchCase('laborieux2021-mnist', { solver: alternatingConv, tol: 3e-5, tolPerExample: true }, 'alternating-tol3e-5-per-example'));
  // at their presets' batches (50, 20) an MLP step is bound by per-op overhead, not arithmetic, and
  // halving the batch barely shortens it; at 500 the same network is compute-bound
  cases.push(parallelCase('laborieux2021-mlp'), parallelCase('scellier2017-1h'), parallelCase('laborieux2021-mlp', 12, 2, 500));
  cases.push(parallelCase('ernoult2019-conv', 3, 1));
  // the job queue's own cost: 1000 tiny sweep points on 4 worker processes (a scratch embedded Postgres)
  cases.push(queueCase(1000, 4));
  // what an epoch of the MLP costs with no relaxation at all: projection, weight gradients, optimizer
  cases.push(floorCase('laborieux2021-mlp'));
  // the same with the tfjs optimizer and the fused one (@eqprop/kernels), batch by batch in turn
  cases.push(kernelsFloorCase('laborieux2021-mlp'));
  for (const preset of ['laborieux2021-mlp', 'scellier2017-1h', 'ernoult2019-p1h']) {
    if (presetNames().includes(preset)) cases.push(epochCase(preset));
  }
  // fewer steps: both phases stop on a residual of 1e-4, layers updated alternately
  const alternating = { kind: 'fixed-point', schedule: 'alternating' } as const;
  cases.push(epochCase('laborieux2021-mlp', { solver: alternating, tol: 1e-4 }, 'alternating-tol1e-4'));
  cases.push(epochCase('ernoult2019-p1h', { solver: alternating, freeSteps: 100, tol: 1e-4 }, 'alternating-tol1e-4'));
  // --kernels tfjs against auto (the fused relaxation and optimizer step where they apply), in one run
  for (const preset of ['laborieux2021-mlp', 'scellier2017-1h', 'ernoult2019-p1h']) cases.push(kernelsEpochCase(preset));
  cases.push(kernelsEpochCase('laborieux2021-mlp', { solver: alternating, tol: 1e-4 }, 'alternating-tol1e-4'));
  // the papers' GPU batch sizes, meant for --backend webgpu (--only accel)
  cases.push(...acceleratorCases());
  return cases;
}

/** Seconds per training batch of a preset on MNIST (median of 3 after a warm-up), optionally with other trainer settings. */
function batchCase(preset: string, trainer: Partial<RunConfig['trainer']> = {}, label = 'preset'): BenchCase {
  return {
    name: `batch/${preset}/${label}`,
    run: async () => {
      const base = getPreset(preset);
      const config = validateConfig(mergeConfig(base, { trainer, data: { trainLimit: 200, testLimit: 100 } }));
      const session = await createSession(config);
      const it = batches(session.train, config.batchSize, { rng: new Rng(1), shuffle: true, dropLast: true, flatten: config.data.flatten });
      const times: number[] = [];
      let steps = 0;
      let perExample = 0;
      for (let i = 0; i < 4; i++) {
        const batch = it.next().value as Batch;
        const t0 = performance.now();
        const r = session.trainer.trainBatch(batch);
        [steps, perExample] = [r.freeSteps, r.freeStepsPerExample];
        if (i > 0) times.push((performance.now() - t0) / 1000);
        batch.x.dispose();
        batch.y.dispose();
      }
      session.trainer.dispose();
      times.sort((a, b) => a - b);
      const seconds = times[1];
      const perEpoch = (seconds * 60000) / config.batchSize / 60;
      return [
        {
          name: `batch/${preset}/${label}/seconds-per-batch`,
          value: seconds,
          unit: 's',
          higherIsBetter: false,
          detail: { batchSize: config.batchSize, freeSteps: steps, freeStepsPerExample: perExample },
        },
        { name: `batch/${preset}/${label}/minutes-per-epoch-one-thread`, value: perEpoch, unit: 'min', higherIsBetter: false },
      ];
    },
  };
}
