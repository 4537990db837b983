import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChlEstimator, contrastiveHebbian } from './contrastive-hebbian.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const B = 6;

function problem(form: 'primitive' | 'hopfield', activation: string, cost: 'mse' | 'ce' = 'mse') {
  const rng = new Rng(4);
  const net = layeredMlp({ kind: 'mlp', sizes: [5, 7, 3], activation, form, cost, init: 'fan-in' }, rng);
  net.params.b1.assign(tf.add(net.params.b1, 0.3));
  const x = tf.tensor2d(rng.uniformArray(B * 5, 0, 1), [B, 5]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3).toFloat();
  return { net, x, y };
}

const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);

describe('contrastive Hebbian learning', () => {
  it('its update is the definition: Hebbian products of the free phase minus those of the clamped phase', () => {
    const { net, x, y } = problem('hopfield', 'hard-sigmoid');
    const eps = 0.5;
    const solver = new GradientDescent(eps);
    const bound = net.bind(x);
    const zeros = net.zeroState(B);
    const r = contrastiveHebbian(bound, y, zeros, { solver, freeSteps: 300, clampedSteps: 300 });
    const [h1f, of] = r.free;
    const [h1c, oc] = r.clamped;
    const p = net.params;
    // the free phase is the solver's; the clamped output is the target, exactly
    const relaxed = solver.relax(bound, zeros, { maxSteps: 300 }).state;
    expect(maxAbs(tf.sub(relaxed[0], h1f))).toBe(0);
    expect(Array.from(oc.dataSync())).toEqual(Array.from(y.dataSync()));
    // the clamped hidden layer sits at its own fixed point: h = clip((1−ε)h + ε(x W₀₁ + b₁ + y W₁₂ᵀ))
    const field = tf.add(tf.add(tf.matMul(x, p.W0_1), p.b1), tf.matMul(y, p.W1_2, false, true));
    expect(maxAbs(tf.sub(h1c, tf.clipByValue(tf.add(tf.mul(h1c, 1 - eps), tf.mul(field, eps)), 0, 1)))).toBeLessThan(1e-6);
    expect(maxAbs(tf.sub(h1c, h1f))).toBeGreaterThan(1e-2);
    // g = ∂E/∂θ(clamped) − ∂E/∂θ(free), with ∂E/∂W = −⟨a_lowerᵀ a_upper⟩ and ∂E/∂b = −⟨a⟩
    const hebb = (a: tf.Tensor, b: tf.Tensor) => tf.div(tf.matMul(a, b, true, false), B);
    const expected = {
      W0_1: tf.sub(hebb(x, h1f), hebb(x, h1c)),
      W1_2: tf.sub(hebb(h1f, of), hebb(h1c, oc)),
      b1: tf.sub(tf.mean(h1f, 0), tf.mean(h1c, 0)),
      b2: tf.sub(tf.mean(of, 0), tf.mean(oc, 0)),
    };
    expect(Object.keys(r.grads).sort()).toEqual(Object.keys(expected).sort());
    for (const [n, e] of Object.entries(expected)) expect(maxAbs(tf.sub(r.grads[n], e)), n).toBeLessThan(1e-6);
    // an SGD step θ ← θ − lr·g is Δθ = lr (∂E/∂θ(free) − ∂E/∂θ(clamped)) = lr (⟨hebb⟩_clamped − ⟨hebb⟩_free)
    const free = bound.paramGrads(r.free);
    const clamped = bound.paramGrads(r.clamped);
    for (const n of Object.keys(expected)) expect(maxAbs(tf.add(r.grads[n], tf.sub(free[n], clamped[n]))), n).toBeLessThan(1e-6);
    bound.dispose();
  });

  it('clamps the prototypical (fixed-point) form too', () => {
    const { net, x, y } = problem('primitive', 'ernoult-sigmoid');
    const before = tf.memory().numTensors;
    const bound = net.bind(x);
    const est = new ChlEstimator({ solver: new FixedPoint('synchronous'), freeSteps: 100, clampedSteps: 100 });
    const zeros = net.zeroState(B);
    const r = est.estimate({ bound, y, init: zeros });
    expect(Object.keys(r.grads).sort()).toEqual(['W0_1', 'W1_2', 'b1', 'b2']);
    // ∂E/∂b₂ difference: ⟨free output⟩ − ⟨target⟩
    expect(tf.tidy(() => maxAbs(tf.sub(r.grads.b2, tf.sub(tf.mean(r.state[1], 0), tf.mean(y, 0)))))).toBeLessThan(1e-6);
    [...Object.values(r.grads), ...r.state, ...zeros].forEach((t) => t.dispose());
    bound.dispose(); // with its per-batch cache
    expect(tf.memory().numTensors).toBe(before);
  });

  it('needs an output layer it can clamp (MSE), and says so', () => {
    const { net, x, y } = problem('primitive', 'ernoult-sigmoid', 'ce');
    const bound = net.bind(x);
    const run = () => contrastiveHebbian(bound, y, net.zeroState(B), { solver: new FixedPoint('synchronous'), freeSteps: 5, clampedSteps: 5 });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/needs the MSE cost, got "ce-readout"/);
    expect(() => new ChlEstimator({ solver: new FixedPoint('synchronous'), freeSteps: 5, clampedSteps: 0 })).toThrow(
      /clamped steps must be a positive integer, got 0/,
    );
  });
});
