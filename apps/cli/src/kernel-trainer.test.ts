import { availableParallelism } from 'node:os';
import { Rng, setupBackend, tf } from '@eqprop/core';
import { createSession, FusedStepOptimizer, getPreset, KernelTrainer } from '@eqprop/experiments';
import { FusedEpStep, FusedFixedPoint, FusedGradientDescent, KernelTeam } from '@eqprop/kernels';
import { type BatchResult, Trainer, type TrainerConfig } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from './commands/train.js';
import { randomBatch } from './random-batch.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

/** laborieux2021-mlp made small: the same dynamics, optimizer and estimator. */
function setup(mode: 'tfjs' | 'fused', team?: KernelTeam, trainer: Partial<TrainerConfig> = {}) {
  const preset = getPreset('laborieux2021-mlp');
  const model = { ...(preset.model as ModelConfig), sizes: [24, 16, 10] } as ModelConfig;
  const net = buildModel(model, new Rng(1));
  const config = { ...preset.trainer, optimizer: { kind: 'adam' as const, lrs: [2e-2] }, ...trainer };
  const opts = { seed: 2, trainCount: 64 };
  return { net, trainer: mode === 'tfjs' ? new Trainer(net, config, opts) : new KernelTrainer(net, config, opts, mode, team) };
}

/** Largest absolute difference. */
function maxGap(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>): number {
  let gap = 0;
  for (const k of Object.keys(b)) {
    const u = a[k].dataSync();
    const v = b[k].dataSync();
    for (let i = 0; i < v.length; i++) gap = Math.max(gap, Math.abs(u[i] - v[i]));
  }
  return gap;
}

describe('KernelTrainer (--kernels)', () => {
  it('auto fuses a dense fixed-point batch whole (phases, gradients and the update, whatever the optimizer), elsewhere the optimizer step of Adam only; tfjs fuses nothing', () => {
    const preset = getPreset('ernoult2019-p1h'); // fixed point, one-sided, SGD
    const net = buildModel(preset.model as ModelConfig, new Rng(1));
    const sgd = new KernelTrainer(net, preset.trainer, { seed: 2 }, 'auto');
    expect(sgd.solver).toBeInstanceOf(FusedFixedPoint);
    expect(sgd.optimizer).toBeInstanceOf(FusedStepOptimizer);
    expect(sgd.epStep).toBeInstanceOf(FusedEpStep);
    // gradient descent on a logistic hopfield net: the fused solver hands every batch to GradientDescent, so no whole batch; SGD stays tfjs ops, Adam is fused
    const eb = getPreset('ernoult2019-eb1h');
    const ebNet = buildModel(eb.model as ModelConfig, new Rng(1));
    const gd = new KernelTrainer(ebNet, eb.trainer, { seed: 2 }, 'auto');
    expect([gd.solver, gd.optimizer, gd.epStep].map((o) => o?.constructor.name)).toEqual(['FusedGradientDescent', 'Optimizer', undefined]);
    const adam = new KernelTrainer(ebNet, { ...eb.trainer, optimizer: { kind: 'adam', lrs: [1e-3] } }, { seed: 2 }, 'auto');
    expect(adam.optimizer).toBeInstanceOf(FusedStepOptimizer);
    expect(adam.epStep).toBeUndefined();
    // an estimator FusedEpStep does not compute (five-phase): the fused solver and optimizer, batch by Trainer
    const five = new KernelTrainer(net, { ...preset.trainer, estimator: 'five-phase' }, { seed: 2 }, 'auto');
    expect(five.solver).toBeInstanceOf(FusedFixedPoint);
    expect(five.epStep).toBeUndefined();
    const off = new KernelTrainer(net, preset.trainer, { seed: 2 }, 'tfjs');
    expect(off.solver).not.toBeInstanceOf(FusedFixedPoint);
    expect(off.epStep).toBeUndefined();
    for (const t of [sgd, gd, adam, five, off]) t.dispose();
    tf.dispose([...Object.values(net.params), ...Object.values(ebNet.params)]);
  });

  it('fused: trains as the tfjs Trainer does, batch after batch, with its solver and optimizer fused', () => {
    const tfjs = setup('tfjs');
    const fused = setup('fused');
    expect(fused.trainer.solver).toBeInstanceOf(FusedFixedPoint);
    expect(fused.trainer.optimizer).toBeInstanceOf(FusedStepOptimizer);
    const start = Object.fromEntries(Object.entries(tfjs.net.params).map(([k, p]) => [k, p.clone()]));
    expect((fused.trainer as KernelTrainer).epStep).toBeInstanceOf(FusedEpStep); // the whole batch in the kernels
    for (let i = 0; i < 5; i++) {
      const batch = randomBatch([24], 8, 10 + i);
      const a = tfjs.trainer.trainBatch(batch);
      const b = fused.trainer.trainBatch(batch);
      // the batch's summary is Trainer's: errors, top-5 errors and steps alike, the loss to float32 rounding
      const pick = (r: BatchResult) => [r.errors, r.top5Errors, r.size, r.freeSteps, r.freeStepsPerExample];
      expect(pick(b)).toEqual(pick(a));
      expect(b.loss).toBeCloseTo(a.loss, 5);
      tf.dispose([batch.x, batch.y]);
    }
    // Adam's steps are ±lr-sized whatever the gradient's size, so the gradients' float32 differences
    // show most where a gradient is near 0: the parameters agree to a thousandth of one step
    expect(maxGap(fused.net.params, tfjs.net.params)).toBeLessThan(1e-3 * 2e-2);
    expect(maxGap(tfjs.net.params, start)).toBeGreaterThan(5 * 2e-2 * 0.5); // they learned: several steps of lr 2e-2
    // the fused optimizer's checkpoint is the tfjs one's: same step count and moments
    const a = fused.trainer.optimizer.getState();
    const b = tfjs.trainer.optimizer.getState();
    expect(a.t).toBe(5);
    expect(Object.keys(a.slots)).toEqual(Object.keys(b.slots));
    const moments = (s: typeof a) =>
      Object.fromEntries(
        Object.entries(s.slots).flatMap(([k, v]) =>
          v.map((t, i) => [`${k}:${i}`, tf.tensor(Array.from(new Float32Array(Uint8Array.from(atob(t.data), (c) => c.charCodeAt(0)).buffer)), t.shape)]),
        ),
      );
    const [ma, mb] = [moments(a), moments(b)];
    expect(maxGap(ma, mb)).toBeLessThan(1e-3);
    tf.dispose([...Object.values(ma), ...Object.values(mb), ...Object.values(start)]);
    tfjs.trainer.dispose();
    fused.trainer.dispose();
  });

  it('scellier2017-1h (gradient descent, hard sigmoid, random sign, persistent particles, SGD): auto fuses the batch whole and trains as the tfjs Trainer does', () => {
    const preset = getPreset('scellier2017-1h');
    const model = { ...(preset.model as ModelConfig), sizes: [24, 16, 10] } as ModelConfig;
    const make = (mode: 'tfjs' | 'auto') => {
      const net = buildModel(model, new Rng(1));
      for (const p of Object.values(net.params)) p.assign(tf.mul(p, 3)); // fields beyond [0, 1]: the clip matters
      const opts = { seed: 2, trainCount: 24, testCount: 8 };
      return { net, trainer: mode === 'tfjs' ? new Trainer(net, preset.trainer, opts) : new KernelTrainer(net, preset.trainer, opts, mode) };
    };
    const tfjs = make('tfjs');
    const auto = make('auto');
    const k = auto.trainer as KernelTrainer;
    expect(k.solver).toBeInstanceOf(FusedGradientDescent);
    expect(k.optimizer).toBeInstanceOf(FusedStepOptimizer);
    expect(k.epStep).toBeInstanceOf(FusedEpStep);
    const start = Object.fromEntries(Object.entries(tfjs.net.params).map(([n, p]) => [n, p.clone()]));
    for (let i = 0; i < 6; i++) {
      // the same examples again from the fourth batch on: their particles are used
      const batch = { ...randomBatch([24], 8, 40 + (i % 3)), indices: Int32Array.from({ length: 8 }, (_, j) => 8 * (i % 3) + j) };
      const a = tfjs.trainer.trainBatch(batch);
      const b = auto.trainer.trainBatch(batch);
      const pick = (r: BatchResult) => [r.errors, r.top5Errors, r.size, r.freeSteps, r.freeStepsPerExample];
      expect(pick(b)).toEqual(pick(a));
      expect(b.loss).toBeCloseTo(a.loss, 5);
      tf.dispose([batch.x, batch.y]);
    }
    expect(maxGap(auto.net.params, tfjs.net.params)).toBeLessThan(1e-5);
    expect(maxGap(tfjs.net.params, start)).toBeGreaterThan(1e-3); // they learned
    tf.dispose(Object.values(start));
    tfjs.trainer.dispose();
    auto.trainer.dispose();
  });

  it('fused: a restored checkpoint goes on as the original does', () => {
    const a = setup('fused');
    const batches = [0, 1, 2, 3].map((i) => randomBatch([24], 8, 20 + i));
    a.trainer.trainBatch(batches[0]);
    a.trainer.trainBatch(batches[1]);
    const state = a.trainer.optimizer.getState();
    const params = Object.fromEntries(Object.entries(a.net.params).map(([k, p]) => [k, p.clone()]));
    const b = setup('fused');
    for (const [k, p] of Object.entries(b.net.params)) p.assign(params[k]);
    b.trainer.optimizer.setState(state);
    for (const batch of batches.slice(2)) {
      a.trainer.trainBatch(batch);
      b.trainer.trainBatch(batch);
    }
    expect(maxGap(b.net.params, a.net.params)).toBe(0);
    tf.dispose([...batches.flatMap((x) => [x.x, x.y]), ...Object.values(params)]);
    a.trainer.dispose();
    b.trainer.dispose();
  });

  it('fused on two threads trains bit for bit as on one, with a per-example tolerance and persistent particles, and leaves no tensor and no kernel memory behind', async () => {
    const pair = await KernelTeam.start({ threads: 2 });
    expect(pair.threads).toBe(2);
    const opts = { tol: 1e-4, tolPerExample: true, persistent: true };
    const one = setup('fused', undefined, opts);
    const two = setup('fused', pair, opts);
    const tfjs = setup('tfjs', undefined, opts);
    const tensors = tf.memory().numTensors;
    let bytes = 0;
    for (let i = 0; i < 6; i++) {
      // the same examples again from the fourth batch on: their particles are used
      const batch = { ...randomBatch([24], 8, 30 + (i % 3)), indices: Int32Array.from({ length: 8 }, (_, j) => 8 * (i % 3) + j) };
      const r1 = one.trainer.trainBatch(batch);
      const r2 = two.trainer.trainBatch(batch);
      const r0 = tfjs.trainer.trainBatch(batch);
      expect(r2).toEqual(r1);
      expect([r1.errors, r1.freeStepsPerExample]).toEqual([r0.errors, r0.freeStepsPerExample]);
      if (i === 0) bytes = pair.K.memory.buffer.byteLength;
      tf.dispose([batch.x, batch.y]);
    }
    expect(maxGap(two.net.params, one.net.params)).toBe(0);
    expect(maxGap(one.net.params, tfjs.net.params)).toBeLessThan(1e-3 * 2e-2);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(pair.K.memory.buffer.byteLength).toBe(bytes);
    two.trainer.dispose(); // disposes its team: workers terminated
    expect(() => pair.run([])).toThrow(/used after dispose/);
    for (const t of [one, tfjs]) t.trainer.dispose();
  });

  it('eqprop train --kernels: createSession builds the fused trainer, or refuses in one line where it cannot run', async () => {
    const base = resolveConfig({ preset: 'laborieux2021-mlp', 'train-limit': '200', 'test-limit': '50', 'batch-size': '20' });
    const fused = await createSession({ ...base, kernels: 'fused', kernelThreads: 1 });
    expect(fused.trainer).toBeInstanceOf(KernelTrainer);
    expect((fused.trainer as KernelTrainer).team.threads).toBe(1);
    expect((fused.trainer as KernelTrainer).epStep).toBeInstanceOf(FusedEpStep);
    // the default is auto; its threads: one for batches under 50, two from 50 on a machine of two cores or more
    const { kernels: _, ...byDefault } = base;
    const auto = await createSession(byDefault);
    expect(auto.trainer).toBeInstanceOf(KernelTrainer);
    expect((auto.trainer as KernelTrainer).team.threads).toBe(1);
    auto.trainer.dispose();
    const auto50 = await createSession({ ...byDefault, batchSize: 50 });
    expect((auto50.trainer as KernelTrainer).team.threads).toBe(availableParallelism() >= 2 ? 2 : 1);
    auto50.trainer.dispose();
    expect(fused.trainer.solver).toBeInstanceOf(FusedFixedPoint);
    expect(fused.trainer.optimizer).toBeInstanceOf(FusedStepOptimizer);
    fused.trainer.dispose();
    const plain = await createSession({ ...base, kernels: 'tfjs' });
    expect(plain.trainer).not.toBeInstanceOf(KernelTrainer);
    plain.trainer.dispose();
    await expect(createSession({ ...base, kernels: 'fused', algorithm: 'bptt' })).rejects.toThrow(/^--kernels fused applies to EP: BPTT runs on tfjs ops/);
    await expect(createSession({ ...base, kernels: 'fused', workers: 2 })).rejects.toThrow(/^--kernels fused runs on one thread, not 2 data-parallel replicas/);
    // gradient descent: fused where the network has clip units, one line where it does not
    const sc = await createSession({
      ...resolveConfig({ preset: 'scellier2017-1h', 'train-limit': '40', 'test-limit': '20' }),
      kernels: 'fused',
      kernelThreads: 1,
    });
    expect((sc.trainer as KernelTrainer).epStep).toBeInstanceOf(FusedEpStep);
    sc.trainer.dispose();
    const eb = await createSession({
      ...resolveConfig({ preset: 'ernoult2019-eb1h', 'train-limit': '40', 'test-limit': '20' }),
      kernels: 'fused',
      kernelThreads: 1,
    });
    const batch = randomBatch([784], 4, 1);
    expect(() => eb.trainer.trainBatch(batch)).toThrow(
      /^the fused kernels cannot relax this network: a hopfield network whose activation is not the identity on its range \(kernels "auto" falls back to tfjs ops\)$/,
    );
    tf.dispose([batch.x, batch.y]);
    eb.trainer.dispose();
  });
});
