// WebGPU against wasm, in one process, on the same weights and inputs: every term's energy, field
// and parameter gradient; free and nudged relaxations of each solver with its options; every
// estimator; the baselines through the same dynamics (BPTT, RBP, CHL); one training batch of four
// presets. Each computation runs as a Reads program driven
// by runAsync on both backends (WebGPU in Node has no synchronous read) and returns what it read.
// The checks are run by the test suite (equivalence.test.ts) and by `eqprop gpu-check` on a GPU.
import { BpttEstimator, ChlEstimator, RbpEstimator } from '@eqprop/baselines';
import { type BackendName, Rng, runAsync, type State, setupBackend, tf } from '@eqprop/core';
import { type EnergyNetwork, TermCache } from '@eqprop/energies';
import { getPreset } from '@eqprop/experiments';
import { createEstimator, ESTIMATORS, Trainer, type TrainerConfig } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint, GradientDescent, type RelaxOptions, type Solver } from '@eqprop/solvers';
import { randomBatch } from '../random-batch.js';

/** What a check reads: named arrays, compared one by one. */
export type Readings = Record<string, Float32Array>;

export interface EquivalenceCheck {
  name: string;
  /** Largest relative error allowed on every reading (the 1e-4 on states and gradients). */
  tol: number;
  compute: () => Promise<Readings>;
}

export interface CheckResult {
  name: string;
  tol: number;
  worst: number;
  /** The readings above `tol`, with their relative error. */
  failures: string[];
  /** Readings one backend produced and the other did not. */
  missing: string[];
  seconds: number;
}

/** Runs `fn` with `name` as the active backend, then returns to wasm; no tensor may outlive it. */
export async function onBackend<T>(name: BackendName, fn: () => Promise<T>): Promise<T> {
  await setupBackend(name);
  const before = tf.memory().numTensors;
  try {
    const out = await fn();
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) throw new Error(`${leaked} tensors left on ${name}`);
    return out;
  } finally {
    await setupBackend('wasm');
  }
}

/** A tensor's values (asynchronously: WebGPU in Node has no synchronous read), then disposes it. */
export async function take(t: tf.Tensor): Promise<Float32Array> {
  const v = Float32Array.from((await t.data()) as Float32Array);
  t.dispose();
  return v;
}

/** ‖a − b‖ / max(‖b‖, floor): the relative error of `a` against the reference `b`. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), floor);
}

/** Runs a check on wasm (the reference) and on `against`, reading by reading. */
export async function runCheck(check: EquivalenceCheck, against: BackendName = 'webgpu'): Promise<CheckResult> {
  const t0 = performance.now();
  const ref = await onBackend('wasm', check.compute);
  const other = await onBackend(against, check.compute);
  const keys = new Set([...Object.keys(ref), ...Object.keys(other)]);
  const missing = [...keys].filter((k) => !(k in ref) || !(k in other));
  let worst = 0;
  const failures: string[] = [];
  for (const [key, values] of Object.entries(ref)) {
    if (!(key in other)) continue;
    const err = relativeError(other[key], values);
    worst = Math.max(worst, err);
    if (!(err <= check.tol)) failures.push(`${key}: ${err.toExponential(2)}`);
  }
  return { name: check.name, tol: check.tol, worst, failures, missing, seconds: (performance.now() - t0) / 1000 };
}

const TOL = 1e-4;
type Shrink = (model: Record<string, unknown>) => void;

/** A preset's network, with smaller layers where the full ones would take minutes on a software adapter. */
function presetNet(name: string, shrink?: Shrink): { net: EnergyNetwork; trainer: TrainerConfig } {
  const config = getPreset(name);
  const model = structuredClone(config.model) as Record<string, unknown>;
  shrink?.(model);
  return { net: buildModel(model as unknown as ModelConfig, new Rng(7)), trainer: config.trainer };
}

/** A state with every layer uniform in [0, 1) (inside every activation's range). */
function randomState(net: EnergyNetwork, n: number, seed: number): State {
  const rng = new Rng(seed);
  return net.layerShapes.map((shape) => tf.tensor(rng.uniformArray(n * shape.reduce((a, b) => a * b, 1), 0, 1), [n, ...shape]));
}

/** The network's parameters (the cost's included) are its only tensors. */
function disposeNet(net: EnergyNetwork): void {
  for (const p of Object.values(net.params)) p.dispose();
}

const MODELS: Record<string, { preset: string; input: number[]; shrink?: Shrink }> = {
  'dense hopfield (scellier2017-1h)': { preset: 'scellier2017-1h', input: [784], shrink: (m) => (m.sizes = [784, 64, 10]) },
  'dense primitive, CE readout (laborieux2021-mlp)': { preset: 'laborieux2021-mlp', input: [784], shrink: (m) => (m.sizes = [784, 64, 10]) },
  'conv + max-pool, CE readout (laborieux2021-mnist)': { preset: 'laborieux2021-mnist', input: [28, 28, 1] },
};

function termChecks(): EquivalenceCheck[] {
  return Object.entries(MODELS).map(([label, spec]) => ({
    name: `every term of ${label}: energy, fields and parameter gradients; the cost and its nudge`,
    tol: TOL,
    compute: async () => {
      const { net } = presetNet(spec.preset, spec.shrink);
      const batch = randomBatch(spec.input, 3, 11);
      const bound = net.bind(batch.x);
      const state = randomState(net, 3, 12);
      const out: Readings = {};
      const all = bound.allActs(net.activities(state));
      const cache = new TermCache();
      for (const term of net.energyTerms('the per-term energy check')) {
        out[`${term.name} energy`] = await take(term.energy(all));
        for (const k of term.layers) if (k > 0) out[`${term.name} field on ${k}`] = await take(term.field(all, k, cache));
        for (const [p, g] of Object.entries(term.paramGrads(all))) out[`${term.name} ∂E/∂${p}`] = await take(g);
      }
      const last = net.activity(net.depth, state[state.length - 1]);
      out.cost = await take(net.cost.cost(last, batch.y));
      out['nudge field'] = await take(net.cost.nudgeField(last, batch.y, cache));
      for (const [p, g] of Object.entries(net.cost.paramGrads(last, batch.y))) out[`cost ∂C/∂${p}`] = await take(g);
      out['total energy, nudged'] = await take(bound.totalEnergy(state, { beta: 0.5, y: batch.y }));
      cache.dispose();
      for (const t of all.slice(1)) if (!state.includes(t)) t.dispose();
      if (!state.includes(last)) last.dispose();
      tf.dispose([...state, batch.x, batch.y]);
      bound.dispose();
      disposeNet(net);
      return out;
    },
  }));
}

function relaxationChecks(): EquivalenceCheck[] {
  const cases: [string, string, () => Solver, Omit<RelaxOptions, 'nudge'>][] = [
    ['gradient descent (scellier2017-1h)', 'dense hopfield (scellier2017-1h)', () => new GradientDescent(0.5), { maxSteps: 20 }],
    ['fixed point, synchronous', 'dense primitive, CE readout (laborieux2021-mlp)', () => new FixedPoint('synchronous'), { maxSteps: 20 }],
    [
      'fixed point, alternating, tolerance',
      'dense primitive, CE readout (laborieux2021-mlp)',
      () => new FixedPoint('alternating'),
      { maxSteps: 40, tol: 1e-4 },
    ],
    [
      'fixed point, damped, nudge outside σ',
      'dense primitive, CE readout (laborieux2021-mlp)',
      () => new FixedPoint('synchronous', { stepSize: 0.2, nudge: 'outside' }),
      { maxSteps: 30 },
    ],
    [
      'fixed point, per-example stop (convnet)',
      'conv + max-pool, CE readout (laborieux2021-mnist)',
      () => new FixedPoint('alternating'),
      { maxSteps: 30, tol: 1e-4, perExample: true },
    ],
  ];
  return cases.map(([label, model, makeSolver, opts]) => ({
    name: `a free and a nudged relaxation: ${label}`,
    tol: TOL,
    compute: async () => {
      const spec = MODELS[model];
      const { net } = presetNet(spec.preset, spec.shrink);
      const batch = randomBatch(spec.input, 4, 21);
      const bound = net.bind(batch.x);
      const solver = makeSolver();
      const zero = net.zeroState(4);
      const free = await runAsync(solver.relaxReads(bound, zero, opts));
      const nudged = await runAsync(solver.relaxReads(bound, free.state, { ...opts, nudge: { beta: 0.5, y: batch.y } }));
      const out: Readings = { steps: Float32Array.of(free.steps, nudged.steps) };
      for (const [phase, r] of [
        ['free', free],
        ['nudged', nudged],
      ] as const) {
        for (const [l, t] of r.state.entries()) out[`${phase} layer ${l + 1}`] = await take(t);
      }
      tf.dispose([...zero, batch.x, batch.y]);
      bound.dispose();
      disposeNet(net);
      return out;
    },
  }));
}

function estimatorChecks(): EquivalenceCheck[] {
  return [...ESTIMATORS, 'five-phase'].map((kind) => ({
    name: `the ${kind} estimator`,
    tol: TOL,
    compute: async () => {
      const spec = MODELS['dense primitive, CE readout (laborieux2021-mlp)'];
      const { net } = presetNet(spec.preset, spec.shrink);
      const batch = randomBatch(spec.input, 4, 31);
      const bound = net.bind(batch.x);
      const init = net.zeroState(4);
      const estimator = createEstimator(kind, { beta: 0.2, rng: new Rng(5) });
      const est = await runAsync(
        estimator.estimateReads({ bound, y: batch.y, solver: new FixedPoint('synchronous'), init, free: { maxSteps: 30 }, nudged: { maxSteps: 10 } }),
      );
      const out: Readings = { beta: Float32Array.of(est.beta) };
      for (const [p, g] of Object.entries(est.grads)) out[`∂L/∂${p}`] = await take(g);
      tf.dispose([...est.free.state, ...est.nudged.flatMap((r) => r.state), ...init, batch.x, batch.y]);
      bound.dispose();
      disposeNet(net);
      return out;
    },
  }));
}

function trainingBatchChecks(): EquivalenceCheck[] {
  // phases shortened (and CIFAR-10's channels cut to 1/8) where a software adapter would take minutes
  const cases: [string, number[], number, Shrink | undefined, Partial<TrainerConfig>][] = [
    ['laborieux2021-mlp', [784], 8, undefined, {}],
    ['ernoult2019-p1h', [784], 8, undefined, {}],
    ['laborieux2021-mnist', [28, 28, 1], 4, undefined, { freeSteps: 30, nudgedSteps: 10 }],
    ['laborieux2021-cifar10', [32, 32, 3], 2, (m) => (m.channels = [16, 32, 64, 64]), { freeSteps: 8, nudgedSteps: 3 }],
  ];
  return cases.map(([preset, input, n, shrink, shorter]) => ({
    name: `one training batch of ${preset}: gradients, loss, and the parameters after the optimizer step`,
    tol: TOL,
    compute: async () => {
      const { net, trainer: config } = presetNet(preset, shrink);
      const trainer = new Trainer(net, { ...config, ...shorter, persistent: false, persistentEval: false }, { seed: 3 });
      const batch = randomBatch(input, n, 41);
      const { grads, result } = await runAsync(trainer.computeGradsReads(batch, trainer.estimator.draw()));
      const out: Readings = { loss: Float32Array.of(result.loss), errors: Float32Array.of(result.errors) };
      for (const [p, g] of Object.entries(grads)) out[`∂L/∂${p}`] = Float32Array.from((await g.data()) as Float32Array);
      trainer.optimizer.step(grads, 1);
      tf.dispose(Object.values(grads));
      for (const [p, v] of Object.entries(net.params)) out[`${p} after the step`] = Float32Array.from((await v.data()) as Float32Array);
      trainer.dispose();
      tf.dispose([batch.x, batch.y]);
      disposeNet(net);
      return out;
    },
  }));
}

/** The baselines that train through the same dynamics: their gradients and free states. */
function baselineChecks(): EquivalenceCheck[] {
  const sources: [string, (solver: Solver) => BpttEstimator | RbpEstimator | ChlEstimator][] = [
    ['BPTT (T 30, K 10)', (solver) => new BpttEstimator(solver, 30, 10)],
    ['recurrent backprop', (solver) => new RbpEstimator({ solver, freeSteps: 60, tol: 1e-5 })],
    ['contrastive Hebbian learning', (solver) => new ChlEstimator({ solver, freeSteps: 30, clampedSteps: 10 })],
  ];
  return sources.map(([label, make]) => ({
    name: `the ${label} gradient of laborieux2021-mlp's dynamics`,
    tol: TOL,
    compute: async () => {
      const spec = MODELS['dense primitive, CE readout (laborieux2021-mlp)'];
      const { net } = presetNet(spec.preset, spec.shrink);
      const batch = randomBatch(spec.input, 4, 51);
      const bound = net.bind(batch.x);
      const init = net.zeroState(4);
      const { grads, state } = await runAsync(make(new FixedPoint('synchronous')).estimateReads({ bound, y: batch.y, init }));
      const out: Readings = {};
      for (const [p, g] of Object.entries(grads)) out[`∂L/∂${p}`] = await take(g);
      for (const [l, t] of state.entries()) out[`free layer ${l + 1}`] = await take(t);
      tf.dispose([...init, batch.x, batch.y]);
      bound.dispose();
      disposeNet(net);
      return out;
    },
  }));
}

/** Every check, in the order the suite runs them. */
export function equivalenceChecks(): EquivalenceCheck[] {
  return [...termChecks(), ...relaxationChecks(), ...estimatorChecks(), ...baselineChecks(), ...trainingBatchChecks()];
}
