import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent, type Solver } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { FusedFixedPoint } from './fused-fixed-point.js';
import { FusedGradientDescent } from './fused-gradient-descent.js';
import { type KernelsMode, withKernels } from './with-kernels.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

describe('withKernels', () => {
  it('gives a fixed-point solver the fused path (auto and fused), leaves it to tfjs ops with tfjs', () => {
    const fp = new FixedPoint('alternating', { stepSize: 0.5 });
    const auto = withKernels(fp, 'auto');
    expect(auto).toBeInstanceOf(FusedFixedPoint);
    expect((auto as FusedFixedPoint).fallback).toBe(fp);
    expect((auto as FusedFixedPoint).mode).toBe('auto');
    expect((withKernels(fp, 'fused') as FusedFixedPoint).mode).toBe('fused');
    expect(withKernels(fp, 'tfjs')).toBe(fp);
  });

  it('gives gradient descent the fused path too; leaves another solver to tfjs ops with auto, and refuses fused in one line naming it', () => {
    const gd = new GradientDescent(0.5);
    const auto = withKernels(gd, 'auto');
    expect(auto).toBeInstanceOf(FusedGradientDescent);
    expect((auto as FusedGradientDescent).fallback).toBe(gd);
    expect((withKernels(gd, 'fused') as FusedGradientDescent).mode).toBe('fused');
    expect(withKernels(gd, 'tfjs')).toBe(gd);
    const other: Solver = { name: 'other', relax: gd.relax.bind(gd), relaxReads: gd.relaxReads.bind(gd) };
    expect(withKernels(other, 'auto')).toBe(other);
    expect(() => withKernels(other, 'fused')).toThrow(ConfigError);
    expect(() => withKernels(other, 'fused')).toThrow(/the other solver has no fused path \(fixed-point and gradient descent only\)/);
    expect(() => withKernels(gd, 'simd' as KernelsMode)).toThrow(/kernels must be one of fused, tfjs, auto, got "simd"/);
  });

  it('runs on the cpu backend too (host reads through dataSync), with the states of FixedPoint', async () => {
    await setupBackend('cpu');
    try {
      const net = layeredMlp({ kind: 'mlp', sizes: [8, 12, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'glorot' }, new Rng(1));
      const x = tf.randomUniform([3, 8], 0, 1, 'float32', 1);
      const bound = net.bind(x);
      const init = net.zeroState(3);
      const solver = withKernels(new FixedPoint('synchronous'), 'fused') as FusedFixedPoint;
      expect(solver.unfusedReason(bound)).toBeUndefined();
      const a = solver.relax(bound, init, { maxSteps: 20 });
      const b = new FixedPoint('synchronous').relax(bound, init, { maxSteps: 20 });
      const u = a.state[1].dataSync();
      const v = b.state[1].dataSync();
      for (let i = 0; i < v.length; i++) expect(Math.abs(u[i] - v[i])).toBeLessThan(1e-5);
      tf.dispose([...a.state, ...b.state, ...init, x]);
      bound.dispose();
    } finally {
      await setupBackend('wasm');
    }
  });
});
