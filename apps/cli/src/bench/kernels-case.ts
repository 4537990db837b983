import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, tf } from '@eqprop/core';
import { DenseCoupling, type EnergyNetwork } from '@eqprop/energies';
import {
  createSession,
  type FusedStepOptimizer,
  getPreset,
  KernelTrainer,
  mergeConfig,
  type RunConfig,
  RunDir,
  trainRun,
  validateConfig,
} from '@eqprop/experiments';
import { KernelTeam } from '@eqprop/kernels';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { matmulRate, samplePeakMemory } from './measure.js';
import type { BenchCase, BenchContext, BenchResult } from './suite.js';

/** FLOPs of one relaxation step of a dense network: each moving coupling's product, once per free layer it feeds. */
function denseStepFlops(net: EnergyNetwork, n: number): number {
  let flops = 0;
  for (const t of net.terms) {
    if (!(t instanceof DenseCoupling)) continue;
    const fed = t.layers.filter((k) => k > 0 && !t.isStaticFor(k)).length;
    const [a, b] = t.weight.shape as number[];
    flops += 2 * n * a * b * fed;
  }
  return flops;
}

/**
 * FLOPs of a batch outside the relaxation: the input's projection, the EP weight gradients (one
 * product per coupling with a clamped lower side, two stacked otherwise) and the optimizer's pass
 * (Adam ~10 per parameter).
 */
function batchFloorFlops(net: EnergyNetwork, n: number): number {
  let flops = 0;
  for (const t of net.terms) {
    if (!(t instanceof DenseCoupling)) continue;
    const [a, b] = t.weight.shape as number[];
    if (t.lower === 0)
      flops += 2 * n * a * b * 2; // projection + gradient
    else flops += 2 * 2 * n * a * b;
  }
  const params = Object.values(net.params).reduce((s, p) => s + p.size, 0);
  return flops + 10 * params;
}

/**
 * FLOPs of the products with the input (its projection and its coupling's gradient) in a batch: the
 * fused path skips the input's zeros there (gemm_sp), so it does `density` of them.
 */
function inputProductFlops(net: EnergyNetwork, n: number): number {
  let flops = 0;
  for (const t of net.terms) if (t instanceof DenseCoupling && t.lower === 0) flops += 2 * 2 * n * t.weight.size;
  return flops;
}

/** The share of nonzero values in a dataset's inputs (MNIST: ~0.19). */
function nonzeroShare(images: Float32Array): number {
  let nonzero = 0;
  for (let i = 0; i < images.length; i++) if (images[i] !== 0) nonzero++;
  return nonzero / images.length;
}

/** The backend's matmul rate at the preset's input projection (batch × inputs by inputs × first width). */
function projectionRate(net: EnergyNetwork, n: number): number {
  const inputs = net.inputShape.reduce((a, b) => a * b, 1);
  return matmulRate(
    n,
    inputs,
    net.layerShapes[0].reduce((a, b) => a * b, 1),
  );
}

/** The paths the kernels cases compare: tfjs ops, and the fused kernels on one thread and on two. */
const PATHS = [
  { label: 'tfjs', kernels: 'tfjs', threads: 1 },
  { label: 'fused-1-thread', kernels: 'auto', threads: 1 },
  { label: 'fused-2-threads', kernels: 'auto', threads: 2 },
] as const;

/**
 * `floor/<preset>` for the three paths in one run, batch by batch in turn: a training batch without
 * relaxation. tfjs ops: binding (the input projection), the EP weight gradients and Optimizer's
 * step; fused: a FusedEpStep with no step in either phase (the static fields, the gradients and
 * the finiteness checks in the kernels) and the fused update, on 1 and 2 threads. Each path has
 * its own copy of the network.
 */
export function kernelsFloorCase(preset: string, batches = 200, warmup = 20): BenchCase {
  return {
    name: `floor/${preset}/kernels`,
    run: async (ctx) => {
      const config = getPreset(preset);
      const n = config.batchSize;
      const trainerConfig = { ...config.trainer, persistent: false, persistentEval: false };
      const paths = await Promise.all(
        PATHS.map(async (p) => {
          const net = buildModel(config.model as ModelConfig, new Rng(1));
          const team = await KernelTeam.start({ threads: p.threads });
          return { ...p, net, trainer: new KernelTrainer(net, trainerConfig, { seed: 2 }, p.kernels, team), ms: 0 };
        }),
      );
      const net = paths[0].net;
      const rng = new Rng(3);
      const inputSize = net.inputShape.reduce((a, b) => a * b, 1);
      const classes = net.layerShapes[net.layerShapes.length - 1][0];
      const states = [0, 1].map(() => net.layerShapes.map((shape) => tf.randomUniform([n, ...shape], 0, 1, 'float32', rng.int(1 << 30))));
      const y = tf
        .oneHot(
          tf.tensor1d(
            Array.from({ length: n }, (_, i) => i % classes),
            'int32',
          ),
          classes,
        )
        .toFloat();
      const scale = 1 / (2 * config.trainer.beta);
      const none = { maxSteps: 0 };
      for (let i = 0; i < warmup + batches; i++) {
        const x = tf.tensor(rng.uniformArray(n * inputSize, 0, 1), [n, ...net.inputShape]);
        for (const p of i % 2 ? [...paths].reverse() : paths) {
          const t0 = performance.now();
          const step = p.trainer.epStep;
          if (step) {
            step.run(x, y, { kind: 'one-sided', beta: config.trainer.beta }, none, none);
            (p.trainer.optimizer as FusedStepOptimizer).fused.stepSlots(1);
          } else {
            const bound = p.net.bind(x);
            const grads = bound.paramGradsDiff(states[0], states[1], scale);
            p.trainer.optimizer.step(grads, 1); // wasm and cpu kernels run synchronously
            Object.values(grads).forEach((g) => g.dispose());
            bound.dispose();
          }
          if (i >= warmup) p.ms += performance.now() - t0;
        }
        x.dispose();
      }
      tf.dispose([...states.flat(), y]);
      const rate = projectionRate(net, n);
      const flops = batchFloorFlops(net, n);
      const results: BenchResult[] = [];
      for (const p of paths) {
        const ms = p.ms / batches;
        const efficiency = flops / (rate * 1e9) / (ms / 1000);
        ctx.log(
          `    ${p.label}: ${ms.toFixed(2)} ms per batch of ${n} without relaxation (FLOP efficiency ${efficiency.toFixed(2)} at ${rate.toFixed(1)} GFLOP/s)`,
        );
        results.push(
          {
            name: `floor/${preset}/kernels-${p.label}/ms-per-batch`,
            value: ms,
            unit: 'ms',
            higherIsBetter: false,
            detail: { batchSize: n, batches, matmulRate: rate, threads: p.trainer.team.threads, fusedBatch: p.trainer.epStep !== undefined },
          },
          {
            name: `floor/${preset}/kernels-${p.label}/flop-efficiency`,
            value: efficiency,
            unit: 'ratio',
            higherIsBetter: true,
            detail: {
              flopsPerBatch: flops,
              note: 'projection + EP weight gradients + optimizer FLOPs at the backend matmul rate of the projection (one thread), over the measured time',
            },
          },
        );
        p.trainer.dispose();
        tf.dispose(Object.values(p.net.params));
      }
      return results;
    },
  };
}

/**
 * One epoch of a preset with `--kernels tfjs` and with `--kernels auto` on 1 and on 2 threads
 * (`--kernel-threads`) in the same run, in that order: training seconds per epoch, test accuracy
 * after it, and each path's FLOP efficiency (the batch's FLOPs at the backend's measured one-thread
 * matmul rate, over the measured time per batch: above 1 is possible on two threads). Auto is the
 * fused path where it applies (the detail names the solver and optimizer that ran, and whether the
 * whole batch was fused): for a dense fixed-point network, all of it; for gradient descent, the
 * optimizer step only.
 */
export function kernelsEpochCase(preset: string, trainer: Partial<RunConfig['trainer']> = {}, label?: string): BenchCase {
  const name = `epoch/${preset}/kernels${label ? `-${label}` : ''}`;
  return {
    name,
    run: async (ctx) => {
      const results: BenchResult[] = [];
      for (const p of PATHS) results.push(...(await kernelsEpoch(preset, name, p, trainer, ctx)));
      return results;
    },
  };
}

async function kernelsEpoch(
  preset: string,
  name: string,
  path: (typeof PATHS)[number],
  trainer: Partial<RunConfig['trainer']>,
  ctx: BenchContext,
): Promise<BenchResult[]> {
  const mode = path.label;
  // the same session `eqprop train --kernels <mode> --kernel-threads <n>` builds
  const config = validateConfig(
    mergeConfig(getPreset(preset), { epochs: 1, kernels: path.kernels, kernelThreads: path.threads, trainer, ...(ctx.quick ? { maxBatches: 100 } : {}) }),
  );
  const session = await createSession(config);
  const dir = mkdtempSync(join(tmpdir(), 'eqprop-bench-'));
  try {
    const runDir = new RunDir(dir);
    runDir.writeJson('config.json', config);
    const history = await trainRun(session, { runDir, resume: false, quiet: true, log: () => {} });
    samplePeakMemory();
    const m = history[0];
    const perEpochBatches = Math.floor(session.train.count / config.batchSize);
    const batchesRun = ctx.quick ? 100 : perEpochBatches;
    const perEpoch = (m.seconds * perEpochBatches) / batchesRun;
    const n = config.batchSize;
    const rate = projectionRate(session.net, n);
    // the relaxation's steps: the free phase's measured mean, the nudged phase's configured count per nudge
    const nudges = config.trainer.estimator === 'symmetric' ? 2 : 1;
    const steps = m.meanFreeSteps + nudges * config.trainer.nudgedSteps;
    const flops = batchFloorFlops(session.net, n) + steps * denseStepFlops(session.net, n);
    const efficiency = flops / (rate * 1e9) / (m.seconds / batchesRun);
    // what the fused batch really computes: the input's products over its nonzero values only
    const fused = session.trainer instanceof KernelTrainer && session.trainer.epStep !== undefined;
    const density = nonzeroShare(session.train.images);
    const flopsDone = fused ? flops - (1 - density) * inputProductFlops(session.net, n) : flops;
    const efficiencyDone = flopsDone / (rate * 1e9) / (m.seconds / batchesRun);
    ctx.log(
      `    ${mode}: ${perEpoch.toFixed(1)} s per epoch, ${(100 * (1 - m.testError)).toFixed(2)} % test accuracy, FLOP efficiency ${efficiency.toFixed(2)}` +
        `${fused ? ` (${efficiencyDone.toFixed(2)} on the FLOPs done: the input's ${(100 * density).toFixed(0)} % nonzero values)` : ''} (matmul ${rate.toFixed(1)} GFLOP/s)`,
    );
    return [
      {
        name: `${name}/${mode}/seconds-per-epoch`,
        value: perEpoch,
        unit: 's',
        higherIsBetter: false,
        detail: {
          measuredBatches: batchesRun,
          extrapolated: ctx.quick,
          meanFreeSteps: m.meanFreeSteps,
          note: 'training only: the test evaluation after the epoch is not counted',
        },
      },
      { name: `${name}/${mode}/test-accuracy-after-1-epoch`, value: 1 - m.testError, unit: 'ratio', higherIsBetter: true, detail: { partialEpoch: ctx.quick } },
      {
        name: `${name}/${mode}/flop-efficiency`,
        value: efficiency,
        unit: 'ratio',
        higherIsBetter: true,
        detail: {
          flopsPerBatch: flops,
          stepsPerBatch: steps,
          matmulRate: rate,
          solver: session.trainer.solver.name,
          optimizer: session.trainer.optimizer.constructor.name,
          fusedBatch: fused,
          inputNonzeroShare: density,
          flopsDone,
          efficiencyOnFlopsDone: efficiencyDone,
          threads: session.trainer instanceof KernelTrainer ? session.trainer.team.threads : 1,
          note: 'a training batch’s FLOPs at the backend matmul rate of the input projection, over the measured seconds per batch; a fused batch skips the zeros of the input in its products with it (flopsDone, efficiencyOnFlopsDone)',
        },
      },
    ];
  } finally {
    session.trainer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
