import { type Grads, type Params, Rng, setupBackend, tf } from '@eqprop/core';
import { Optimizer, type OptimizerConfig } from '@eqprop/learning';
import { beforeAll, describe, expect, it } from 'vitest';
import { FusedOptimizer } from './fused-optimizer.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

// sizes that are not multiples of 4 (the kernels' lanes): 7×5 and 10
const SHAPES: Record<string, number[]> = { W1_2: [7, 5], b2: [10] };
const GROUPS = { W1_2: 1, b2: 2 };

function params(seed: number): Params {
  const rng = new Rng(seed);
  return Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, tf.variable(tf.tensor(rng.uniformArray(s[0] * (s[1] ?? 1), -1, 1), s))]));
}

function gradsOf(step: number): { grads: Grads; values: Record<string, Float64Array> } {
  const rng = new Rng(100 + step);
  const values = Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, Float64Array.from(rng.uniformArray(s[0] * (s[1] ?? 1), -2, 2))]));
  return { grads: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, tf.tensor(Float32Array.from(v), SHAPES[k])])), values };
}

/** The optimizers in float64, written from their definitions (Adam: Kingma & Ba, with bias correction). */
function reference(config: OptimizerConfig, p: Float64Array, gs: Float64Array[], lr: number): Float64Array {
  const { momentum = 0.9, weightDecay = 0, adamBetas = [0.9, 0.999], adamEps = 1e-8 } = config;
  const [b1, b2] = adamBetas;
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  gs.forEach((g0, step) => {
    const t = step + 1;
    for (let i = 0; i < p.length; i++) {
      const g = g0[i] + weightDecay * p[i];
      if (config.kind === 'sgd') p[i] -= lr * g;
      else if (config.kind === 'momentum') {
        m[i] = momentum * m[i] + g;
        p[i] -= lr * m[i];
      } else {
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        p[i] -= (lr * (m[i] / (1 - b1 ** t))) / (Math.sqrt(v[i] / (1 - b2 ** t)) + adamEps);
      }
    }
  });
  return p;
}

describe('FusedOptimizer', () => {
  const configs: OptimizerConfig[] = [
    { kind: 'sgd', lrs: [0.1, 0.03] },
    { kind: 'momentum', lrs: [0.05, 0.02], momentum: 0.8, weightDecay: 1e-2 },
    { kind: 'adam', lrs: [5e-3] },
    { kind: 'adam', lrs: [1e-2, 3e-3], adamBetas: [0.8, 0.99], weightDecay: 1e-3 },
  ];
  for (const config of configs) {
    it(`${config.kind} ${JSON.stringify(config.lrs)}${config.weightDecay ? ' with weight decay' : ''}: the parameters of Optimizer and of float64 after 4 steps`, () => {
      const fusedParams = params(1);
      const opParams = params(1);
      const start = Object.fromEntries(Object.entries(fusedParams).map(([k, p]) => [k, Float64Array.from(p.dataSync())]));
      const ops = new Optimizer(config, opParams, GROUPS);
      const fused = new FusedOptimizer(config, fusedParams, (name, scale) => ops.lrOf(name, scale));
      const history: Record<string, Float64Array[]> = { W1_2: [], b2: [] };
      const before = tf.memory().numTensors;
      for (let step = 0; step < 4; step++) {
        const { grads, values } = gradsOf(step);
        fused.step(grads, 0.5);
        ops.step(grads, 0.5);
        for (const k of Object.keys(values)) history[k].push(values[k]);
        tf.dispose(Object.values(grads));
      }
      expect(tf.memory().numTensors).toBe(before);
      for (const [k, p] of Object.entries(fusedParams)) {
        const got = p.dataSync();
        const op = opParams[k].dataSync();
        const want = reference(config, start[k].slice(), history[k], ops.lrOf(k, 0.5));
        let moved = 0;
        for (let i = 0; i < got.length; i++) {
          expect(got[i]).toBeCloseTo(op[i], 6);
          expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i])));
          moved = Math.max(moved, Math.abs(got[i] - start[k][i]));
        }
        expect(moved).toBeGreaterThan(1e-3); // the comparison is of parameters that moved
      }
      ops.dispose();
      tf.dispose([...Object.values(fusedParams), ...Object.values(opParams)]);
    });
  }

  it('skips parameters without a gradient and updates the others', () => {
    const p = params(2);
    const w = p.W1_2.dataSync().slice();
    const b = p.b2.dataSync().slice();
    const opt = new FusedOptimizer({ kind: 'adam', lrs: [0.1] }, p, () => 0.1);
    const g = tf.ones([10]);
    opt.step({ b2: g });
    expect(Array.from(p.W1_2.dataSync())).toEqual(Array.from(w));
    // the first Adam step moves each parameter by lr against its gradient's sign
    expect(Array.from(p.b2.dataSync())).toEqual(Array.from(b).map((v) => expect.closeTo(v - 0.1, 6)));
    tf.dispose([g, ...Object.values(p)]);
  });
});
