import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { DenseCoupling, EnergyNetwork, hardSigmoid, MseCost } from '@eqprop/energies';
import { layeredMlp } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackpropTwin } from './backprop-twin.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const B = 4;

function problem(sizes: number[], activation: string, form: 'primitive' | 'hopfield', cost: 'mse' | 'ce', seed = 2) {
  const rng = new Rng(seed);
  const net = layeredMlp({ kind: 'mlp', sizes, activation, form, cost, init: 'fan-in' }, rng);
  const x = tf.tensor2d(rng.uniformArray(B * sizes[0], 0, 1), [B, sizes[0]]);
  const classes = sizes.at(-1)!;
  const y = tf
    .oneHot(
      tf.tensor1d(
        [0, 1, 2, 1].map((c) => c % classes),
        'int32',
      ),
      classes,
    )
    .toFloat();
  return { net, x, y };
}

/**
 * Float64 forward pass and loss of the twin (ernoult sigmoid), for finite differences: `sizes`
 * are the layers [input, …, a_L]; with Wout and bout in `p` the loss is the readout's
 * cross-entropy, else ½‖a_L − y‖².
 */
function f64Loss(p: Record<string, Float64Array>, sizes: number[], xs: Float32Array, ys: Float32Array): number {
  const classes = ys.length / B;
  let total = 0;
  for (let e = 0; e < B; e++) {
    let a = Array.from(xs.subarray(e * sizes[0], (e + 1) * sizes[0]));
    for (let k = 1; k < sizes.length; k++) {
      const W = p[`W${k - 1}_${k}`];
      const b = p[`b${k}`];
      a = Array.from({ length: sizes[k] }, (_, j) => {
        let h = b[j];
        for (let i = 0; i < a.length; i++) h += a[i] * W[i * sizes[k] + j];
        return 1 / (1 + Math.exp(-4 * (h - 0.5)));
      });
    }
    const y = Array.from(ys.subarray(e * classes, (e + 1) * classes));
    if (p.Wout) {
      const z = Array.from(p.bout, (bc, c) => a.reduce((acc, v, i) => acc + v * p.Wout[i * classes + c], bc));
      const m = Math.max(...z);
      const logSum = m + Math.log(z.reduce((acc, v) => acc + Math.exp(v - m), 0));
      total -= z.reduce((acc, v, c) => acc + y[c] * (v - logSum), 0);
    } else {
      total += 0.5 * a.reduce((s, v, j) => s + (v - y[j]) ** 2, 0);
    }
  }
  return total / B;
}

/** Central finite differences (float64) of f64Loss for every parameter in `p`. */
function f64Gradient(p: Record<string, Float64Array>, sizes: number[], xs: Float32Array, ys: Float32Array, h = 1e-6): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(p).map(([n, v]) => [
      n,
      Array.from(v, (v0, i) => {
        v[i] = v0 + h;
        const up = f64Loss(p, sizes, xs, ys);
        v[i] = v0 - h;
        const down = f64Loss(p, sizes, xs, ys);
        v[i] = v0;
        return (up - down) / (2 * h);
      }),
    ]),
  );
}

describe('the backprop twin', () => {
  it('starts from a copy of the EP network’s weights, same names, and trains without touching them', () => {
    const { net, x, y } = problem([5, 7, 3], 'hard-sigmoid', 'hopfield', 'mse');
    const twin = new BackpropTwin(net);
    expect(Object.keys(twin.params)).toEqual(Object.keys(net.params));
    for (const [n, v] of Object.entries(net.params)) {
      expect(twin.params[n]).not.toBe(v);
      expect(Array.from(twin.params[n].dataSync())).toEqual(Array.from(v.dataSync()));
    }
    const before = Object.fromEntries(Object.entries(net.params).map(([n, v]) => [n, Array.from(v.dataSync())]));
    const { grads, out } = twin.gradients(x, y);
    for (const [n, g] of Object.entries(grads)) twin.params[n].assign(tf.sub(twin.params[n], tf.mul(g, 0.5)));
    for (const [n, v] of Object.entries(net.params)) expect(Array.from(v.dataSync())).toEqual(before[n]);
    expect(twin.params.W0_1.dataSync()).not.toEqual(net.params.W0_1.dataSync());
    [...Object.values(grads), out].forEach((t) => t.dispose());
    twin.dispose();
  });

  it('runs the layers feed-forward: a_k = ρ(a_{k−1} W + b) with the EP network’s activation', () => {
    const { net, x } = problem([5, 7, 3], 'hard-sigmoid', 'hopfield', 'mse');
    const twin = new BackpropTwin(net);
    const p = net.params;
    const h1 = tf.clipByValue(tf.add(tf.matMul(x, p.W0_1), p.b1), 0, 1);
    const expected = tf.clipByValue(tf.add(tf.matMul(h1, p.W1_2), p.b2), 0, 1);
    expect(Array.from(twin.forward(x).dataSync())).toEqual(Array.from(expected.dataSync()));
    twin.dispose();
  });

  it('gives the float64 finite-difference gradient of its loss, and allocates nothing it keeps', () => {
    const sizes = [5, 7, 6, 3];
    const { net, x, y } = problem(sizes, 'ernoult-sigmoid', 'primitive', 'mse');
    const twin = new BackpropTwin(net);
    const before = tf.memory().numTensors;
    const { grads, loss, out } = twin.gradients(x, y);
    expect(tf.memory().numTensors).toBe(before + Object.keys(grads).length + 1);
    const p = Object.fromEntries(Object.entries(twin.params).map(([n, v]) => [n, Float64Array.from(v.dataSync())]));
    const xs = x.dataSync() as Float32Array;
    const ys = y.dataSync() as Float32Array;
    expect(loss).toBeCloseTo(f64Loss(p, sizes, xs, ys), 5);
    const fds = f64Gradient(p, sizes, xs, ys);
    for (const [n, g] of Object.entries(grads)) {
      const fd = fds[n];
      const diff = Math.hypot(...Array.from(g.dataSync(), (v, i) => v - fd[i]));
      expect(diff / Math.hypot(...fd), n).toBeLessThan(1e-4);
    }
    [...Object.values(grads), out].forEach((t) => t.dispose());
    twin.dispose();
  });

  it('copies a CE readout and differentiates through it: every layer’s gradient is the float64 finite difference', () => {
    const sizes = [5, 7, 6, 3];
    const { net, x, y } = problem(sizes, 'ernoult-sigmoid', 'primitive', 'ce');
    const twin = new BackpropTwin(net);
    expect(Object.keys(twin.params).sort()).toEqual(['W0_1', 'W1_2', 'Wout', 'b1', 'b2', 'bout']);
    expect(twin.params.Wout).not.toBe(net.params.Wout);
    const { grads, loss, out } = twin.gradients(x, y);
    // ∂C/∂W_out = aᵀ(softmax − y) / B, the readout's own closed form
    const ref = twin.cost.paramGrads(out, y);
    expect(tf.norm(tf.sub(grads.Wout, ref.Wout)).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.norm(tf.sub(grads.bout, ref.bout)).dataSync()[0]).toBeLessThan(1e-6);
    // and the hidden layers, through the readout, against an independent float64 forward pass
    const p = Object.fromEntries(Object.entries(twin.params).map(([n, v]) => [n, Float64Array.from(v.dataSync())]));
    const xs = x.dataSync() as Float32Array;
    const ys = y.dataSync() as Float32Array;
    expect(loss).toBeCloseTo(f64Loss(p, sizes.slice(0, -1), xs, ys), 5);
    const fds = f64Gradient(p, sizes.slice(0, -1), xs, ys);
    for (const [n, g] of Object.entries(grads)) {
      const diff = Math.hypot(...Array.from(g.dataSync(), (v, i) => v - fds[n][i]));
      // measured ≤ 1.6e-7 (float32 rounding)
      expect(diff / Math.hypot(...fds[n]), n).toBeLessThan(1e-5);
    }
    expect(twin.scores(x).shape).toEqual([B, 3]);
    [...Object.values(grads), ...Object.values(ref), out].forEach((t) => t.dispose());
    twin.dispose();
  });

  it('refuses a network that is not layered, naming the term', () => {
    const w = (r: number, c: number) => tf.variable(tf.zeros([r, c]));
    const net = new EnergyNetwork({
      inputShape: [3],
      layerShapes: [[4], [2]],
      activations: [hardSigmoid, hardSigmoid],
      terms: [new DenseCoupling(0, 1, w(3, 4)), new DenseCoupling(1, 2, w(4, 2)), new DenseCoupling(0, 2, w(3, 2))],
      cost: new MseCost(),
      form: 'hopfield',
    });
    expect(() => new BackpropTwin(net)).toThrow(ConfigError);
    expect(() => new BackpropTwin(net)).toThrow(/term W0_2 does not fit/);
  });
});
