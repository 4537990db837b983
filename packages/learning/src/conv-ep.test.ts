import { describe, it, expect, beforeAll } from 'vitest';
import { tf, setupBackend, Rng, type Grads } from '@eqprop/core';
import { convnet, type ConvnetConfig } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import type { EnergyNetwork } from '@eqprop/energies';
import { EpEstimator, disposeRelaxation, type EstimatorKind } from './estimators.js';
import { Trainer } from './trainer.js';

// Convolutional EP (Laborieux et al. 2021) end to end on the wasm backend: every op of the
// relaxation, the nudged phases and the estimate must exist there and agree with cpu.
beforeAll(async () => {
  await setupBackend('wasm');
});

function batchOf(shape: number[], classes: number, n: number, seed: number) {
  const rng = new Rng(seed);
  const x = rng.uniformArray(n * shape.reduce((a, b) => a * b, 1), 0, 1);
  const labels = Int32Array.from({ length: n }, () => rng.int(classes));
  const y = new Float32Array(n * classes);
  labels.forEach((l, i) => (y[i * classes + l] = 1));
  return { x, y, labels, shape: [n, ...shape], classes };
}
type Data = ReturnType<typeof batchOf>;

function estimate(net: EnergyNetwork, d: Data, kind: EstimatorKind, beta: number, steps: { free: number; nudged: number; tol?: number }, schedule: 'synchronous' | 'alternating' = 'synchronous') {
  return tf.tidy(() => {
    const bound = net.bind(tf.tensor(d.x, d.shape));
    const init = net.zeroState(d.labels.length);
    const est = new EpEstimator(kind, beta, new Rng(1)).estimate({
      bound,
      y: tf.tensor2d(d.y, [d.labels.length, d.classes]),
      solver: new FixedPoint(schedule),
      init,
      free: { maxSteps: steps.free, tol: steps.tol },
      nudged: { maxSteps: steps.nudged, tol: steps.tol },
    });
    const out = Object.fromEntries(Object.entries(est.grads).map(([k, g]) => [k, g.dataSync().slice() as Float32Array]));
    const converged = est.free.converged && est.nudged.every((r) => r.converged);
    disposeRelaxation(est.free);
    est.nudged.forEach(disposeRelaxation);
    bound.dispose();
    return { grads: out, converged };
  });
}

const flat = (g: Record<string, Float32Array>, names: string[]) => names.flatMap((n) => Array.from(g[n]));
const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
const relDiff = (a: number[], b: number[]) => norm(a.map((v, i) => v - b[i])) / norm(b);

const small: ConvnetConfig = {
  kind: 'conv',
  inputShape: [10, 10, 2],
  channels: [4, 6],
  kernels: [3],
  paddings: [0, 1],
  pools: ['max'],
  dense: [5],
  activation: 'half-clip',
  cost: 'ce',
};

describe('convolutional EP on wasm', () => {
  it('symmetric estimate with a CE readout: every op runs on wasm, agrees with cpu, leaks nothing', async () => {
    const d = batchOf(small.inputShape, 5, 3, 2);
    const steps = { free: 30, nudged: 8 };
    const net = convnet(small, new Rng(4));
    const before = tf.memory().numTensors;
    const wasm = estimate(net, d, 'symmetric', 0.5, steps);
    expect(tf.memory().numTensors).toBe(before);
    const names = Object.keys(net.params);
    expect(names).toEqual(['K0_1', 'b1', 'K1_2', 'b2', 'Wout', 'bout']);
    for (const n of names) expect(wasm.grads[n].length).toBe(net.params[n].size);
    expect(flat(wasm.grads, names).every(Number.isFinite)).toBe(true);
    expect(norm(flat(wasm.grads, ['K0_1', 'K1_2']))).toBeGreaterThan(0);

    await setupBackend('cpu');
    const cpu = estimate(convnet(small, new Rng(4)), d, 'symmetric', 0.5, steps);
    await setupBackend('wasm');
    for (const n of names) expect(relDiff(Array.from(wasm.grads[n]), Array.from(cpu.grads[n])), n).toBeLessThan(1e-3);
  });

  it('a training step (momentum, weight decay) on wasm changes every parameter and leaks nothing', () => {
    const d = batchOf(small.inputShape, 5, 4, 3);
    const net = convnet(small, new Rng(5));
    const trainer = new Trainer(
      net,
      {
        solver: { kind: 'fixed-point', schedule: 'synchronous' },
        freeSteps: 20,
        nudgedSteps: 5,
        estimator: 'symmetric',
        beta: 1,
        optimizer: { kind: 'momentum', lrs: [0.25, 0.15, 0.05], momentum: 0.9, weightDecay: 3e-4 },
        persistent: false,
      },
      { seed: 1 },
    );
    const before = Object.fromEntries(Object.entries(net.params).map(([k, v]) => [k, v.dataSync().slice()]));
    const x = tf.tensor(d.x, d.shape);
    const y = tf.tensor2d(d.y, [4, 5]);
    const tensors = tf.memory().numTensors;
    const r = trainer.trainBatch({ x, y, labels: d.labels, indices: Int32Array.from([0, 1, 2, 3]) });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Number.isFinite(r.loss)).toBe(true);
    for (const [k, v] of Object.entries(net.params)) expect(relDiff(Array.from(v.dataSync()), Array.from(before[k])), k).toBeGreaterThan(0);
    x.dispose();
    y.dispose();
    trainer.dispose();
  });

  it('on a small convnet the symmetric estimate is closer to the true gradient than the one-sided one (same β)', () => {
    // true gradient of L(θ) = mean C(s*(θ), y) by central finite differences over every parameter,
    // each a relaxation to convergence (smooth activation, so L is smooth in θ)
    const config: ConvnetConfig = { kind: 'conv', inputShape: [6, 6, 1], channels: [3], kernels: [3], pools: ['max'], dense: [4], activation: 'ernoult-sigmoid', cost: 'mse' };
    const net = convnet(config, new Rng(8));
    const d = batchOf(config.inputShape, 4, 4, 9);
    const names = ['K0_1', 'b1', 'W1_2', 'b2'];
    const relax = { free: 400, nudged: 400, tol: 1e-6 };
    const x = tf.tensor(d.x, d.shape);
    const y = tf.tensor2d(d.y, [4, 4]);
    const solver = new FixedPoint('alternating');
    const loss = () =>
      tf.tidy(() => {
        const bound = net.bind(x);
        const r = solver.relax(bound, net.zeroState(4), { maxSteps: relax.free, tol: relax.tol });
        const l = tf.mean(net.cost.cost(r.state[r.state.length - 1], y)).dataSync()[0];
        r.state.forEach((s) => s.dispose());
        bound.dispose();
        return l;
      });
    const h = 1e-2;
    const truth: number[] = [];
    for (const name of names) {
      const p = net.params[name];
      const values = p.dataSync().slice() as Float32Array;
      for (let i = 0; i < values.length; i++) {
        const at = (delta: number) => {
          const v = values.slice();
          v[i] += delta;
          p.assign(tf.tensor(v, p.shape));
          return loss();
        };
        truth.push((at(h) - at(-h)) / (2 * h));
        p.assign(tf.tensor(values, p.shape));
      }
    }
    // measured here: one-sided error 0.10, symmetric 0.022 (finite-difference floor ≈ 0.016)
    const beta = 0.1;
    const one = estimate(net, d, 'one-sided', beta, relax, 'alternating');
    const sym = estimate(net, d, 'symmetric', beta, relax, 'alternating');
    expect(one.converged && sym.converged).toBe(true);
    const errOne = relDiff(flat(one.grads, names), truth);
    const errSym = relDiff(flat(sym.grads, names), truth);
    // bias O(β) against O(β²)
    expect(errSym).toBeLessThan(errOne / 3);
    expect(errSym).toBeLessThan(0.05);
    x.dispose();
    y.dispose();
  });
});
