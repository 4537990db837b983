import { Rng, setupBackend, tf } from '@eqprop/core';
import { createSession, FusedStepOptimizer, getPreset, KernelTrainer } from '@eqprop/experiments';
import { FusedFixedPoint } from '@eqprop/kernels';
import { Trainer } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from './commands/train.js';
import { randomBatch } from './random-batch.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

/** laborieux2021-mlp made small: the same dynamics, optimizer and estimator. */
function setup(mode: 'tfjs' | 'fused') {
  const preset = getPreset('laborieux2021-mlp');
  const model = { ...(preset.model as ModelConfig), sizes: [24, 16, 10] } as ModelConfig;
  const net = buildModel(model, new Rng(1));
  const config = { ...preset.trainer, optimizer: { kind: 'adam' as const, lrs: [2e-2] } };
  return { net, trainer: mode === 'tfjs' ? new Trainer(net, config, { seed: 2 }) : new KernelTrainer(net, config, { seed: 2 }, mode) };
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
  it('auto fuses the relaxation, and the optimizer step of Adam only; tfjs fuses nothing', () => {
    const preset = getPreset('ernoult2019-p1h'); // fixed point and SGD
    const net = buildModel(preset.model as ModelConfig, new Rng(1));
    const sgd = new KernelTrainer(net, preset.trainer, { seed: 2 }, 'auto');
    expect(sgd.solver).toBeInstanceOf(FusedFixedPoint);
    expect(sgd.optimizer).not.toBeInstanceOf(FusedStepOptimizer);
    const forced = new KernelTrainer(net, preset.trainer, { seed: 2 }, 'fused');
    expect(forced.optimizer).toBeInstanceOf(FusedStepOptimizer);
    const adam = new KernelTrainer(net, { ...preset.trainer, optimizer: { kind: 'adam', lrs: [1e-3] } }, { seed: 2 }, 'auto');
    expect(adam.optimizer).toBeInstanceOf(FusedStepOptimizer);
    const off = new KernelTrainer(net, preset.trainer, { seed: 2 }, 'tfjs');
    expect(off.solver).not.toBeInstanceOf(FusedFixedPoint);
    for (const t of [sgd, forced, adam, off]) t.dispose();
    tf.dispose(Object.values(net.params));
  });

  it('fused: trains as the tfjs Trainer does, batch after batch, with its solver and optimizer fused', () => {
    const tfjs = setup('tfjs');
    const fused = setup('fused');
    expect(fused.trainer.solver).toBeInstanceOf(FusedFixedPoint);
    expect(fused.trainer.optimizer).toBeInstanceOf(FusedStepOptimizer);
    const start = Object.fromEntries(Object.entries(tfjs.net.params).map(([k, p]) => [k, p.clone()]));
    for (let i = 0; i < 5; i++) {
      const batch = randomBatch([24], 8, 10 + i);
      tfjs.trainer.trainBatch(batch);
      fused.trainer.trainBatch(batch);
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

  it('eqprop train --kernels: createSession builds the fused trainer, or refuses in one line where it cannot run', async () => {
    const base = resolveConfig({ preset: 'laborieux2021-mlp', 'train-limit': '200', 'test-limit': '50', 'batch-size': '20' });
    const fused = await createSession({ ...base, kernels: 'fused' });
    expect(fused.trainer).toBeInstanceOf(KernelTrainer);
    expect(fused.trainer.solver).toBeInstanceOf(FusedFixedPoint);
    expect(fused.trainer.optimizer).toBeInstanceOf(FusedStepOptimizer);
    fused.trainer.dispose();
    const plain = await createSession(base);
    expect(plain.trainer).not.toBeInstanceOf(KernelTrainer);
    plain.trainer.dispose();
    await expect(createSession({ ...base, kernels: 'fused', algorithm: 'bptt' })).rejects.toThrow(/^--kernels fused applies to EP: BPTT runs on tfjs ops/);
    await expect(createSession({ ...base, kernels: 'fused', workers: 2 })).rejects.toThrow(/^--kernels fused runs on one thread, not 2 data-parallel replicas/);
  });
});
