import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Worker threads run the built files, so this test drives the built package in a child process
// (one tfjs instance, exactly as users get it).
const pkgDir = fileURLToPath(new URL('../..', import.meta.url));

const script = (extra: object, batches: number) => `
import { tf, setupBackend, Rng } from '@eqprop/core';
import { buildModel } from '@eqprop/models';
import { Trainer, ParticleStore } from '@eqprop/learning';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
await setupBackend('wasm');
const model = { kind: 'mlp', sizes: [64, 32, 10], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse', init: 'glorot' };
const config = { solver: { kind: 'gradient-descent', stepSize: 0.5 }, freeSteps: 15, nudgedSteps: 4, estimator: 'random-sign', beta: 1, optimizer: { kind: 'adam', lrs: [0.01, 0.005] }, persistent: true, ...${JSON.stringify(extra)} };
const count = 200;
const data = new Rng(5);
const xs = data.uniformArray(count * 64, 0, 1);
const labels = Int32Array.from({ length: count }, () => data.int(10));
function batch(b, size = 20) {
  const idx = Int32Array.from({ length: size }, (_, i) => (b * 20 + i) % count);
  const x = new Float32Array(size * 64), y = new Float32Array(size * 10);
  idx.forEach((j, i) => { x.set(xs.subarray(j * 64, j * 64 + 64), i * 64); y[i * 10 + labels[j]] = 1; });
  return { x: tf.tensor2d(x, [size, 64]), y: tf.tensor2d(y, [size, 10]), labels: Int32Array.from(idx, (j) => labels[j]), indices: idx };
}
const single = new Trainer(buildModel(model, new Rng(1)), config, { seed: 2, trainCount: count });
const leader = new Trainer(buildModel(model, new Rng(1)), config, { seed: 2, trainCount: count });
const par = await DataParallelTrainer.create(leader, model, 1, { workers: 2, backend: 'wasm' });
let lossA = 0, lossB = 0, stepsA = 0, stepsB = 0, batchSteps = 0, memoryAfterOne;
for (let b = 0; b < ${batches}; b++) {
  if (b === 1) memoryAfterOne = await par.memory();
  const bA = batch(b), bB = batch(b);
  const rA = single.trainBatch(bA), rB = await par.trainBatch(bB);
  lossA += rA.loss;
  lossB += rB.loss;
  stepsA += rA.freeStepsPerExample;
  stepsB += rB.freeStepsPerExample;
  batchSteps += rA.freeSteps;
  [bA, bB].forEach((t) => { t.x.dispose(); t.y.dispose(); });
}
const memoryAtEnd = await par.memory();
let maxRel = 0;
for (const name of Object.keys(single.net.params)) {
  const a = single.net.params[name].dataSync(), b = leader.net.params[name].dataSync();
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(a[i])); diff = Math.max(diff, Math.abs(a[i] - b[i])); }
  maxRel = Math.max(maxRel, diff / scale);
}
let particleDiff = 0;
single.particles.layers.forEach((l, i) => l.forEach((v, j) => { particleDiff = Math.max(particleDiff, Math.abs(v - leader.particles.layers[i][j])); }));
// evaluation: full batches, an odd one (shares of 4 and 3) and one too small to share
const evalSet = () => [batch(0, 50), batch(1, 50), batch(2, 7), batch(3, 1)];
const tensorsBefore = tf.memory().numTensors;
const evalA = single.evaluate(evalSet()), evalB = await par.evaluate(evalSet());
const evalLeak = tf.memory().numTensors - tensorsBefore;
// persistent evaluation: twice each, from the stores the evaluations update
const storeA = new ParticleStore(count, single.net.layerShapes), storeB = new ParticleStore(count, leader.net.layerShapes);
const persA = [single.evaluate(evalSet(), storeA), single.evaluate(evalSet(), storeA)];
const persB = [await par.evaluate(evalSet(), storeB), await par.evaluate(evalSet(), storeB)];
let storeDiff = 0;
storeA.layers.forEach((l, i) => l.forEach((v, j) => { storeDiff = Math.max(storeDiff, Math.abs(v - storeB.layers[i][j])); }));
const stored = storeB.layers.every((l) => l.some((v) => v !== 0));
const sums = await par.checksums();
await par.close();
console.log(JSON.stringify({ memoryAfterOne, memoryAtEnd, evalA, evalB, evalLeak, persA, persB, storeDiff, stored, maxRel, particleDiff, sums, lossA, lossB, stepsA, stepsB, batchSteps, rngSame: single.rng.getState().join() === leader.rng.getState().join() }));
`;

function run(extra: object, batches = 30) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(extra, batches)], { cwd: pkgDir, encoding: 'utf8', timeout: 120_000 });
  expect(r.stderr).not.toMatch(/Error/);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// A convnet, data-parallel: the leader's tensors counted on the main thread around every batch and
// evaluation (the leader computes a share, sums the shares' gradients and steps its optimizer),
// each worker's after its first batch and at the end.
const convScript = `
import { tf, setupBackend, Rng } from '@eqprop/core';
import { buildModel } from '@eqprop/models';
import { Trainer } from '@eqprop/learning';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
await setupBackend('wasm');
const model = { kind: 'conv', inputShape: [8, 8, 1], channels: [3], kernels: [3], pools: ['max'], dense: [4], activation: 'hard-sigmoid', cost: 'ce' };
const config = { solver: { kind: 'fixed-point', schedule: 'synchronous' }, freeSteps: 10, nudgedSteps: 3, estimator: 'symmetric', beta: 0.5, optimizer: { kind: 'momentum', lrs: [0.05, 0.02], weightDecay: 1e-4 }, persistent: true };
const count = 40;
const data = new Rng(5);
const xs = data.uniformArray(count * 64, 0, 1);
const labels = Int32Array.from({ length: count }, () => data.int(4));
function batch(b, size = 8) {
  const idx = Int32Array.from({ length: size }, (_, i) => (b * size + i) % count);
  const x = new Float32Array(size * 64), y = new Float32Array(size * 4);
  idx.forEach((j, i) => { x.set(xs.subarray(j * 64, j * 64 + 64), i * 64); y[i * 4 + labels[j]] = 1; });
  return { x: tf.tensor(x, [size, 8, 8, 1]), y: tf.tensor2d(y, [size, 4]), labels: Int32Array.from(idx, (j) => labels[j]), indices: idx };
}
const leader = new Trainer(buildModel(model, new Rng(1)), config, { seed: 2, trainCount: count });
const par = await DataParallelTrainer.create(leader, model, 1, { workers: 2, backend: 'wasm' });
const before = tf.memory().numTensors;
const leaderCounts = [];
let workersAfterOne;
for (let b = 0; b < 8; b++) {
  const bt = batch(b);
  await par.trainBatch(bt, 1 - b / 16);
  bt.x.dispose(); bt.y.dispose();
  leaderCounts.push(tf.memory().numTensors);
  if (b === 0) workersAfterOne = (await par.memory()).slice(1).map((m) => m.numTensors);
}
await par.evaluate([batch(0), batch(1), batch(2, 5)]);
leaderCounts.push(tf.memory().numTensors);
const workersAtEnd = (await par.memory()).slice(1).map((m) => m.numTensors);
await par.close();
console.log(JSON.stringify({ before, leaderCounts, workersAfterOne, workersAtEnd }));
`;

describe('data-parallel training', () => {
  it('two workers give the update of one (same β signs, particles, optimizer) and replicas agree bitwise', () => {
    const out = run({});
    expect(out.maxRel).toBeLessThan(1e-4);
    expect(out.particleDiff).toBeLessThan(1e-4);
    expect(out.rngSame).toBe(true);
    expect(new Set(out.sums).size).toBe(1);
    expect(Math.abs(out.lossA - out.lossB) / out.lossA).toBeLessThan(1e-4);
    // no replica keeps a tensor per batch (the exchanged gradients once leaked in the workers)
    expect(out.memoryAtEnd.map((m: { numTensors: number }) => m.numTensors)).toEqual(out.memoryAfterOne.map((m: { numTensors: number }) => m.numTensors));
  });

  it("workers build the leader's estimator by its registered name: five-phase, data-parallel, gives the update of one", () => {
    const out = run({ estimator: 'five-phase', beta: 0.2 }, 4);
    expect(out.maxRel).toBeLessThan(1e-4);
    expect(new Set(out.sums).size).toBe(1);
    expect(Math.abs(out.lossA - out.lossB) / out.lossA).toBeLessThan(1e-4);
  });

  it('evaluates on all replicas: the error and loss of one, whatever the batch sizes, no tensor left', () => {
    for (const out of [run({}, 20), run({ freeSteps: 60, tol: 1e-3, tolPerExample: true }, 10)]) {
      expect(out.evalB.count).toBe(108);
      expect(out.evalB.error).toBe(out.evalA.error);
      // top-5 from every share (a share without it would leave the total without top-5)
      expect(out.evalA.top5Error).toBeTypeOf('number');
      expect(out.evalB.top5Error).toBe(out.evalA.top5Error);
      expect(Math.abs(out.evalA.loss - out.evalB.loss) / out.evalA.loss).toBeLessThan(1e-4);
      expect(out.evalLeak).toBe(0);
    }
  });

  it('evaluates from persistent test particles on all replicas as on one: same errors, same stored equilibria', () => {
    const out = run({}, 5);
    expect(out.stored).toBe(true);
    expect(out.storeDiff).toBeLessThan(1e-5);
    for (const k of [0, 1]) {
      expect(out.persB[k].error).toBe(out.persA[k].error);
      expect(Math.abs(out.persA[k].loss - out.persB[k].loss) / out.persA[k].loss).toBeLessThan(1e-4);
    }
  });

  it('with a per-example tolerance too (each example stops where it would alone, whatever its shard)', () => {
    // 10 batches: float rounding differs between shard sizes and grows through Adam (7e-7 after 5)
    const out = run({ freeSteps: 60, tol: 1e-3, tolPerExample: true }, 10);
    expect(out.maxRel).toBeLessThan(1e-4);
    expect(out.particleDiff).toBeLessThan(1e-4);
    expect(new Set(out.sums).size).toBe(1);
    expect(Math.abs(out.stepsA - out.stepsB)).toBeLessThan(1e-9);
    expect(out.stepsA).toBeLessThan(out.batchSteps); // examples did retire before their batch finished
  });

  it('a convnet trains and evaluates data-parallel without leaking: the leader’s count never moves, each worker’s is flat', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', convScript], { cwd: pkgDir, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/Error/);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.leaderCounts).toHaveLength(9);
    expect(new Set(out.leaderCounts)).toEqual(new Set([out.before]));
    expect(out.workersAtEnd).toEqual(out.workersAfterOne);
  });
});
