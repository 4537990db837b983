// WebGPU against wasm, in one process, on the same weights and inputs: every term's energy, field
// and parameter gradient; free and nudged relaxations of each solver with its options; every
// estimator; one training batch of four presets. Each computation runs as a Reads program driven
// by runAsync on both backends (WebGPU in Node has no synchronous read). Without an adapter the
// suite is recorded as skipped (`pnpm test` names it; CI fails on it): here the adapter is the
// SwiftShader driver bundled in @sparticuz/chromium (apps/cli/vitest.config.ts sets it up).
import { Rng, runAsync, tf, type Batch, type State } from '@eqprop/core';
import { TermCache, type EnergyNetwork } from '@eqprop/energies';
import { EpEstimator, ESTIMATORS, Trainer, type TrainerConfig } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint, GradientDescent, type RelaxOptions, type Solver } from '@eqprop/solvers';
import { describe, expect, it } from 'vitest';
import { getPreset } from '../presets/index.js';
import { onBackend, probeWebgpu, relativeError, take } from './on-backend.js';

const SUITE = 'WebGPU equivalence (Dawn in Node)';
const probe = await probeWebgpu(SUITE);
if (probe.ok) console.log(`WebGPU equivalence: ${probe.adapter}`);

/** What the issue asks: ≤ 1e-4 relative on states and gradients. */
const TOL = 1e-4;

type Readings = Record<string, Float32Array>;

/** A preset's network, with smaller layers where the full ones would take minutes on a software adapter. */
function presetNet(name: string, shrink?: (m: Record<string, unknown>) => void): { net: EnergyNetwork; trainer: TrainerConfig; model: ModelConfig } {
  const config = getPreset(name);
  const model = structuredClone(config.model) as Record<string, unknown>;
  shrink?.(model);
  return { net: buildModel(model as unknown as ModelConfig, new Rng(7)), trainer: config.trainer, model: model as unknown as ModelConfig };
}

/** A batch of `n` examples of the network's input shape with random one-hot targets (the same on every backend). */
function randomBatch(net: EnergyNetwork, inputShape: number[], n: number, seed: number): Batch {
  const rng = new Rng(seed);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const x = rng.uniformArray(n * size, 0, 1);
  const labels = Int32Array.from({ length: n }, () => rng.int(10));
  return {
    x: tf.tensor(x, [n, ...inputShape]),
    y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat() as tf.Tensor2D),
    labels,
    indices: Int32Array.from({ length: n }, (_, i) => i),
  };
}

/** A state with every layer uniform in [0, 1) (inside every activation's range). */
function randomState(net: EnergyNetwork, n: number, seed: number): State {
  const rng = new Rng(seed);
  return net.layerShapes.map((shape) => {
    const size = n * shape.reduce((a, b) => a * b, 1);
    return tf.tensor(rng.uniformArray(size, 0, 1), [n, ...shape]);
  });
}

/** The network's parameters (the cost's included) are its only tensors. */
function disposeNet(net: EnergyNetwork): void {
  for (const p of Object.values(net.params)) p.dispose();
}

/** Runs `compute` on wasm and on WebGPU and checks every reading agrees to `tol`; returns the worst error. */
async function agree(compute: () => Promise<Readings>, tol = TOL): Promise<number> {
  const wasm = await onBackend('wasm', compute);
  const webgpu = await onBackend('webgpu', compute);
  expect(Object.keys(webgpu).sort()).toEqual(Object.keys(wasm).sort());
  let worst = 0;
  const bad: string[] = [];
  for (const [key, ref] of Object.entries(wasm)) {
    const err = relativeError(webgpu[key], ref);
    worst = Math.max(worst, err);
    if (!(err <= tol)) bad.push(`${key}: ${err.toExponential(2)}`);
  }
  expect(bad, `relative error above ${tol}`).toEqual([]);
  return worst;
}

const MODELS: Record<string, { preset: string; input: number[]; shrink?: (m: Record<string, unknown>) => void }> = {
  'dense hopfield (scellier2017-1h)': { preset: 'scellier2017-1h', input: [784], shrink: (m) => (m.sizes = [784, 64, 10]) },
  'dense primitive, CE readout (laborieux2021-mlp)': { preset: 'laborieux2021-mlp', input: [784], shrink: (m) => (m.sizes = [784, 64, 10]) },
  'conv + max-pool, CE readout (laborieux2021-mnist)': { preset: 'laborieux2021-mnist', input: [28, 28, 1] },
};

describe.skipIf(!probe.ok)(SUITE, () => {
  for (const [label, spec] of Object.entries(MODELS)) {
    it(`every term of ${label}: energy, fields and parameter gradients; the cost and its nudge`, async () => {
      const worst = await agree(async () => {
        const { net } = presetNet(spec.preset, spec.shrink);
        const batch = randomBatch(net, spec.input, 3, 11);
        const bound = net.bind(batch.x);
        const state = randomState(net, 3, 12);
        const out: Readings = {};
        const all = bound.allActs(net.activities(state));
        const cache = new TermCache();
        for (const term of net.terms) {
          out[`${term.name} energy`] = await take(term.energy(all));
          for (const k of term.layers) if (k > 0) out[`${term.name} field on ${k}`] = await take(term.field(all, k, cache));
          for (const [p, g] of Object.entries(term.paramGrads(all))) out[`${term.name} ∂E/∂${p}`] = await take(g);
        }
        const last = net.activity(net.depth, state[state.length - 1]);
        out['cost'] = await take(net.cost.cost(last, batch.y));
        out['nudge field'] = await take(net.cost.nudgeField(last, batch.y, cache));
        for (const [p, g] of Object.entries(net.cost.paramGrads(last, batch.y))) out[`cost ∂C/∂${p}`] = await take(g);
        out['total energy, nudged'] = await take(bound.totalEnergy(state, { beta: 0.5, y: batch.y }));
        cache.dispose();
        all.slice(1).forEach((t) => !state.includes(t) && t.dispose());
        state.forEach((t) => t.dispose());
        bound.dispose();
        tf.dispose([batch.x, batch.y]);
        disposeNet(net);
        return out;
      });
      console.log(`${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  /** Free then nudged relaxation with a solver and options; the states after each phase and the step counts. */
  const relaxations: [string, string, (net: EnergyNetwork) => Solver, Omit<RelaxOptions, 'nudge'>][] = [
    ['gradient descent (scellier2017-1h)', 'dense hopfield (scellier2017-1h)', () => new GradientDescent(0.5), { maxSteps: 20 }],
    ['fixed point, synchronous', 'dense primitive, CE readout (laborieux2021-mlp)', () => new FixedPoint('synchronous'), { maxSteps: 20 }],
    ['fixed point, alternating, tolerance', 'dense primitive, CE readout (laborieux2021-mlp)', () => new FixedPoint('alternating'), { maxSteps: 40, tol: 1e-4 }],
    ['fixed point, damped, nudge outside σ', 'dense primitive, CE readout (laborieux2021-mlp)', () => new FixedPoint('synchronous', { stepSize: 0.2, nudge: 'outside' }), { maxSteps: 30 }],
    ['fixed point, per-example stop (convnet)', 'conv + max-pool, CE readout (laborieux2021-mnist)', () => new FixedPoint('alternating'), { maxSteps: 30, tol: 1e-4, perExample: true }],
  ];
  for (const [label, model, makeSolver, opts] of relaxations) {
    it(`a free and a nudged relaxation: ${label}`, async () => {
      const spec = MODELS[model];
      const worst = await agree(async () => {
        const { net } = presetNet(spec.preset, spec.shrink);
        const batch = randomBatch(net, spec.input, 4, 21);
        const bound = net.bind(batch.x);
        const solver = makeSolver(net);
        const zero = net.zeroState(4);
        const free = await runAsync(solver.relaxReads(bound, zero, opts));
        const nudged = await runAsync(solver.relaxReads(bound, free.state, { ...opts, nudge: { beta: 0.5, y: batch.y } }));
        const out: Readings = { steps: Float32Array.of(free.steps, nudged.steps) };
        for (const [phase, r] of [['free', free], ['nudged', nudged]] as const) for (const [l, t] of r.state.entries()) out[`${phase} layer ${l + 1}`] = await take(t);
        zero.forEach((t) => t.dispose());
        bound.dispose();
        tf.dispose([batch.x, batch.y]);
        disposeNet(net);
        return out;
      });
      console.log(`${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  for (const kind of ESTIMATORS) {
    it(`the ${kind} estimator`, async () => {
      const spec = MODELS['dense primitive, CE readout (laborieux2021-mlp)'];
      await agree(async () => {
        const { net } = presetNet(spec.preset, spec.shrink);
        const batch = randomBatch(net, spec.input, 4, 31);
        const bound = net.bind(batch.x);
        const init = net.zeroState(4);
        const estimator = new EpEstimator(kind, 0.2, new Rng(5));
        const est = await runAsync(
          estimator.estimateReads({ bound, y: batch.y, solver: new FixedPoint('synchronous'), init, free: { maxSteps: 30 }, nudged: { maxSteps: 10 } }),
        );
        const out: Readings = { beta: Float32Array.of(est.beta) };
        for (const [p, g] of Object.entries(est.grads)) out[`∂L/∂${p}`] = await take(g);
        for (const r of [est.free, ...est.nudged]) r.state.forEach((t) => t.dispose());
        init.forEach((t) => t.dispose());
        bound.dispose();
        tf.dispose([batch.x, batch.y]);
        disposeNet(net);
        return out;
      });
    });
  }

  // one training batch of each preset, its phases shortened where a software adapter would take minutes
  const batchesOf: [string, number[], number, ((m: Record<string, unknown>) => void) | undefined, Partial<TrainerConfig>][] = [
    ['laborieux2021-mlp', [784], 8, undefined, {}],
    ['ernoult2019-p1h', [784], 8, undefined, {}],
    ['laborieux2021-mnist', [28, 28, 1], 4, undefined, { freeSteps: 30, nudgedSteps: 10 }],
    // its layers, kernels, pooling, activation, readout, estimator and optimizer, with 1/8 of the
    // channels: the full 128-256-512-512 network takes minutes a batch on a software adapter
    ['laborieux2021-cifar10', [32, 32, 3], 2, (m) => (m.channels = [16, 32, 64, 64]), { freeSteps: 8, nudgedSteps: 3 }],
  ];
  for (const [preset, input, n, shrink, shorter] of batchesOf) {
    it(`one training batch of ${preset}: gradients, loss, and the parameters after the optimizer step`, async () => {
      const worst = await agree(async () => {
        const { net, trainer: config } = presetNet(preset, shrink);
        const trainer = new Trainer(net, { ...config, ...shorter, persistent: false, persistentEval: false }, { seed: 3 });
        const batch = randomBatch(net, input, n, 41);
        const { grads, result } = await runAsync(trainer.computeGradsReads(batch, trainer.estimator.drawBeta()));
        const out: Readings = { loss: Float32Array.of(result.loss), errors: Float32Array.of(result.errors) };
        for (const [p, g] of Object.entries(grads)) out[`∂L/∂${p}`] = Float32Array.from((await g.data()) as Float32Array);
        trainer.optimizer.step(grads, 1);
        Object.values(grads).forEach((g) => g.dispose());
        for (const [p, v] of Object.entries(net.params)) out[`${p} after the step`] = Float32Array.from((await v.data()) as Float32Array);
        trainer.dispose();
        tf.dispose([batch.x, batch.y]);
        disposeNet(net);
        return out;
      });
      console.log(`${preset} batch: worst relative error ${worst.toExponential(2)}`);
    });
  }
});
