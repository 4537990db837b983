import { Rng, setupBackend, tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ernoultSigmoid, halfClip, hardSigmoid, sigmoid } from './activations.js';
import { Bias } from './bias.js';
import { checkTerm as checkTermReport } from './check-term.js';
import { CrossEntropyReadout, MseCost } from './costs.js';
import { DenseCoupling } from './dense-coupling.js';
import { EnergyNetwork } from './network.js';
import { SelfTerm } from './self-term.js';
import { type Term, TermCache } from './term.js';
import { randomActs, relError } from './test-utils.js';

// tf.grad is the reference; the cpu backend runs it in float32 like the closed forms.
beforeAll(async () => {
  await setupBackend('cpu');
});

const variable = (shape: number[], seed: number) => tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', seed));

/**
 * The exported checkTerm (fields and parameter gradients against tf.grad on its own random inputs
 * and parameters, fast paths, shapes, leaks), then the term's gradients at `acts` for the
 * closed-form checks below.
 */
function checkTerm(term: Term, acts: tf.Tensor[]) {
  expect(
    checkTermReport(
      term,
      acts.map((a) => a.shape.slice(1)),
    ).ok,
  ).toBe(true);
  const grads = term.paramGrads(acts);
  for (const name of Object.keys(term.params)) expect(grads[name].shape).toEqual(term.params[name].shape);
  return grads;
}

describe('closed-form term gradients equal tf.grad', () => {
  it('dense coupling: fields on both layers and ∂E/∂W', () => {
    const W = variable([7, 5], 1);
    const term = new DenseCoupling(1, 2, W);
    const acts = randomActs([[3], [7], [5]], 4, 10);
    const grads = checkTerm(term, acts);
    const ref = tf.grad((w: tf.Tensor) => tf.div(tf.neg(tf.sum(tf.mul(tf.matMul(acts[1], w), acts[2]))), 4))(W);
    expect(relError(grads[term.name], ref)).toBeLessThan(1e-4);
    // the EP difference in one matmul equals the difference of two gradients
    const other = randomActs([[3], [7], [5]], 4, 20);
    const diff = term.paramGradsDiff(acts, other, 2.5)[term.name];
    const expected = tf.mul(tf.sub(grads[term.name], term.paramGrads(other)[term.name]), 2.5);
    expect(relError(diff, expected)).toBeLessThan(1e-4);
  });

  it('dense coupling from the clamped input (one-matmul difference)', () => {
    const W = variable([6, 4], 2);
    const term = new DenseCoupling(0, 1, W);
    const a = randomActs([[6], [4]], 5, 30);
    const b = [a[0], tf.randomUniform([5, 4], 0, 1, 'float32', 31)];
    const diff = term.paramGradsDiff(a, b, -1.5)[term.name];
    const expected = tf.mul(tf.sub(term.paramGrads(a)[term.name], term.paramGrads(b)[term.name]), -1.5);
    expect(relError(diff, expected)).toBeLessThan(1e-4);
    expect(term.isStaticFor(1)).toBe(true);
    expect(term.isStaticFor(0)).toBe(false);
    checkTerm(term, a);
    // a batch smaller than the layer takes the projection as (Wᵀ·xᵀ)ᵀ, a larger one as x·W
    const wide = new DenseCoupling(0, 1, variable([6, 9], 4));
    for (const n of [5, 12]) checkTerm(wide, randomActs([[6], [9]], n, 33 + n));
  });

  it('bias: field and ∂E/∂b', () => {
    const b = variable([6], 3);
    const term = new Bias(1, b);
    const acts = randomActs([[2], [6]], 3, 40);
    const grads = checkTerm(term, acts);
    const ref = tf.grad((v: tf.Tensor) => tf.div(tf.neg(tf.sum(tf.mul(acts[1], v))), 3))(b);
    expect(relError(grads[term.name], ref)).toBeLessThan(1e-4);
  });

  it('MSE cost: nudge field = −∂C/∂s_L', () => {
    const cost = new MseCost();
    const out = tf.randomUniform([4, 10], 0, 1, 'float32', 50);
    const y = tf.oneHot(tf.tensor1d([1, 3, 5, 7], 'int32'), 10).toFloat();
    const ref = tf.grad((o: tf.Tensor) => tf.neg(tf.sum(cost.cost(o, y))))(out);
    expect(relError(cost.nudgeField(out, y), ref)).toBeLessThan(1e-4);
  });

  it('CE readout: nudge field and ∂C/∂W_out, ∂C/∂b_out', () => {
    const W = variable([8, 10], 4);
    const bo = variable([10], 5);
    const cost = new CrossEntropyReadout(W, bo);
    const out = tf.randomUniform([4, 8], 0, 1, 'float32', 60);
    const y = tf.oneHot(tf.tensor1d([0, 2, 4, 9], 'int32'), 10).toFloat();
    const cache = new TermCache();
    const ref = tf.grad((o: tf.Tensor) => tf.neg(tf.sum(cost.cost(o, y))))(out);
    expect(relError(cost.nudgeField(out, y, cache), ref)).toBeLessThan(1e-4);
    const g = cost.paramGrads(out, y);
    const ce = (w: tf.Tensor, b: tf.Tensor) => tf.div(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(tf.add(tf.matMul(out, w), b))))), 4);
    expect(relError(g.Wout, tf.grad((w: tf.Tensor) => ce(w, bo))(W))).toBeLessThan(1e-4);
    expect(relError(g.bout, tf.grad((b: tf.Tensor) => ce(W, b))(bo))).toBeLessThan(1e-4);
    cache.dispose();
  });

  it("self terms: quadratic gradient is s; the legendre term has G' = σ⁻¹", () => {
    const s = tf.randomUniform([3, 6], 0.05, 0.95, 'float32', 70);
    const quad = new SelfTerm('quadratic');
    const gq = tf.grad((x: tf.Tensor) => tf.sum(quad.energy(x, hardSigmoid)))(s);
    expect(relError(quad.grad(s), gq)).toBeLessThan(1e-4);
    for (const act of [ernoultSigmoid, sigmoid, halfClip]) {
      const leg = new SelfTerm('legendre');
      const g = tf.grad((x: tf.Tensor) => tf.sum(leg.energy(x, act)))(s);
      // σ(G'(s)) = s  ⇔  G' = σ⁻¹
      expect(relError(act.apply(g), s)).toBeLessThan(1e-3);
    }
  });

  it('activation derivatives equal tf.grad', () => {
    const x = tf.randomUniform([50], -0.9, 2.9, 'float32', 80);
    for (const act of [ernoultSigmoid, sigmoid, hardSigmoid, halfClip]) {
      const ref = tf.grad((v: tf.Tensor) => tf.sum(act.apply(v)))(x);
      expect(relError(act.derivative(x), ref)).toBeLessThan(1e-4);
    }
  });

  it('whole network: field equals −∂E/∂a_k and paramGrads equal tf.grad of mean E', () => {
    const rng = new Rng(3);
    const mk = (shape: number[]) => tf.variable(tf.tensor(rng.uniformArray(shape[0] * (shape[1] ?? 1), -0.5, 0.5), shape));
    const terms = [new DenseCoupling(0, 1, mk([5, 6])), new Bias(1, mk([6])), new DenseCoupling(1, 2, mk([6, 3])), new Bias(2, mk([3]))];
    const net = new EnergyNetwork({
      inputShape: [5],
      layerShapes: [[6], [3]],
      activations: [ernoultSigmoid, ernoultSigmoid],
      terms,
      cost: new MseCost(),
      form: 'primitive',
    });
    const x = tf.randomUniform([4, 5], 0, 1, 'float32', 90);
    const states = randomActs([[6], [3]], 4, 91);
    const bound = net.bind(x);
    const all = bound.allActs(states);
    for (const k of [1, 2]) {
      // −∂(terms' E)/∂a_k: the self term is not part of the field
      const ref = tf.grad((a: tf.Tensor) => {
        const acts = all.slice();
        acts[k] = a;
        return tf.neg(tf.sum(terms.map((t) => t.energy(acts)).reduce((p, q) => tf.add(p, q))));
      })(all[k]);
      expect(relError(bound.field(all, k), ref)).toBeLessThan(1e-4);
    }
    const grads = bound.paramGrads(states);
    for (const t of terms) {
      for (const [name, v] of Object.entries(t.params)) {
        const ref = tf.grad((p: tf.Tensor) => {
          const acts = all.slice();
          // rebuild this term's energy with p in place of its parameter
          const e =
            t instanceof DenseCoupling
              ? tf.neg(tf.sum(tf.mul(tf.matMul(acts[t.lower], p as tf.Tensor2D), acts[t.upper]), 1))
              : tf.neg(tf.sum(tf.mul(acts[(t as Bias).layer], p), 1));
          return tf.mean(e);
        })(v);
        expect(relError(grads[name], ref)).toBeLessThan(1e-4);
      }
    }
    bound.dispose();
  });
});
