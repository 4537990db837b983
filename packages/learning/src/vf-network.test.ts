import { ConfigError, type Grads, Rng, type State, setupBackend, tf } from '@eqprop/core';
import { type EnergyNetwork, VfDenseCoupling, weightAngles } from '@eqprop/energies';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint, GradientDescent } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Estimator } from './estimators/estimator.js';
import { OneSidedEstimator } from './estimators/one-sided.js';
import { SymmetricEstimator } from './estimators/symmetric.js';

// A vector-field network is run by the same fixed-point solver and EP estimators as any other
// network: these compare it, with B = W, against the symmetric network of the same seed.
beforeAll(async () => {
  await setupBackend('wasm');
});

const MLP = { sizes: [10, 8, 6, 4], activation: 'ernoult-sigmoid', cost: 'mse', init: 'fan-in' };
const BETA = 0.2;

/** The symmetric MLP and the VF MLP of one seed (the same W and biases), B set to W. */
function twins(sameUpdate = false): { sym: EnergyNetwork; vf: EnergyNetwork } {
  const sym = buildModel({ kind: 'mlp', ...MLP, form: 'primitive' } as ModelConfig, new Rng(5));
  const vf = buildModel({ kind: 'vf-mlp', ...MLP, sameUpdate } as ModelConfig, new Rng(5));
  for (const t of vf.terms) if (t instanceof VfDenseCoupling) t.backward.assign(t.forward);
  return { sym, vf };
}

const data = (t: tf.Tensor) => Array.from(t.dataSync());
const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);

function estimate(net: EnergyNetwork, estimator: Estimator, x: tf.Tensor, y: tf.Tensor) {
  const bound = net.bind(x);
  const est = estimator.estimate({
    bound,
    y,
    solver: new FixedPoint('synchronous'),
    init: net.zeroState(x.shape[0]),
    free: { maxSteps: 40 },
    nudged: { maxSteps: 15 },
  });
  bound.dispose();
  return est;
}

/** −[(l₁ − l⁰)ᵀ(u₁ − u⁰) − (l₂ − l⁰)ᵀ(u₂ − u⁰)]·scale/n: what EP's update of W has that the VF updates of W and B do not. */
function secondOrder(s1: State, s2: State, s0: State, l: number, scale: number): tf.Tensor {
  return tf.tidy(() => {
    const d = (s: State, k: number) => tf.sub(s[k - 1], s0[k - 1]);
    const n = s0[0].shape[0];
    const cross = (s: State) => tf.matMul(d(s, l), d(s, l + 1), true, false);
    return tf.mul(tf.sub(cross(s1), cross(s2)), -scale / n);
  });
}

describe('a VF network with B = W against the symmetric network (same seed)', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => {
    x = tf.randomUniform([6, 10], 0, 1, 'float32', 1);
    y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4).cast('float32');
  });

  it('has the symmetric network’s W and biases, angle 0, and its fields on every layer', async () => {
    const { sym, vf } = twins();
    for (const name of Object.keys(sym.params)) expect(data(vf.params[name])).toEqual(data(sym.params[name]));
    expect(Object.keys(vf.params).filter((p) => !(p in sym.params))).toEqual(['B1_2', 'B2_3']);
    expect(await weightAngles(vf)).toEqual({ W1_2: 0, W2_3: 0 });
    expect(sym.hasEnergy && !vf.hasEnergy).toBe(true);
    const [bs, bv] = [sym.bind(x), vf.bind(x)];
    const states = sym.layerShapes.map((s, i) => tf.randomUniform([6, ...s], 0, 1, 'float32', 10 + i));
    for (let k = 1; k <= 3; k++) {
      const [fs, fv] = [bs.preActivation(bs.allActs(states), k), bv.preActivation(bv.allActs(states), k)];
      expect(maxAbs(tf.sub(fs, fv))).toBeLessThan(1e-6 * maxAbs(fs));
    }
    bs.dispose();
    bv.dispose();
  });

  it.each([
    ['one-sided', () => new OneSidedEstimator(BETA), 1 / BETA],
    ['symmetric', () => new SymmetricEstimator(BETA), 1 / (2 * BETA)],
  ] as const)('%s: the same relaxations; W’s and B’s VF updates add up to EP’s update of W less its second-order term', (_, make, scale) => {
    const { sym, vf } = twins();
    const [es, ev] = [estimate(sym, make(), x, y), estimate(vf, make(), x, y)];
    const phases = (e: typeof es) => [e.free.state, ...e.nudged.map((r) => r.state)];
    phases(es).forEach((s, i) => s.forEach((t, k) => expect(maxAbs(tf.sub(t, phases(ev)[i][k]))).toBeLessThan(1e-5)));
    // biases and the input coupling: EP's update exactly
    for (const p of ['W0_1', 'b1', 'b2', 'b3']) expect(maxAbs(tf.sub(es.grads[p], ev.grads[p]))).toBeLessThan(1e-5 * maxAbs(es.grads[p]));
    // EP(W) = VF(W) + VF(B) + second-order term, the VF rule anchored at the free state (both estimators)
    const [s1, s2] = ev.nudged.length === 2 ? [ev.nudged[0].state, ev.nudged[1].state] : [ev.nudged[0].state, ev.free.state];
    for (const [w, b, l] of [
      ['W1_2', 'B1_2', 1],
      ['W2_3', 'B2_3', 2],
    ] as const) {
      const rebuilt = tf.add(tf.add(ev.grads[w], ev.grads[b]), secondOrder(s1, s2, ev.free.state, l, scale));
      expect(maxAbs(tf.sub(rebuilt, es.grads[w]))).toBeLessThan(1e-4 * maxAbs(es.grads[w]));
      // and the VF update is not EP's on its own
      expect(maxAbs(tf.sub(ev.grads[w], es.grads[w]))).toBeGreaterThan(0.05 * maxAbs(es.grads[w]));
    }
    tf.dispose([...Object.values(es.grads), ...Object.values(ev.grads), ...phases(es).flat(), ...phases(ev).flat()]);
  });

  it('sameUpdate: W and B both get exactly EP’s update of W', () => {
    const { sym, vf } = twins(true);
    const [es, ev] = [estimate(sym, new SymmetricEstimator(BETA), x, y), estimate(vf, new SymmetricEstimator(BETA), x, y)];
    for (const [w, b] of [
      ['W1_2', 'B1_2'],
      ['W2_3', 'B2_3'],
    ]) {
      expect(maxAbs(tf.sub(ev.grads[w], es.grads[w]))).toBeLessThan(1e-5 * maxAbs(es.grads[w]));
      expect(data(ev.grads[b])).toEqual(data(ev.grads[w]));
    }
  });
});

describe('what needs an energy refuses a VF network in one line', () => {
  let vf: EnergyNetwork;
  let x: tf.Tensor;
  beforeAll(() => {
    vf = buildModel({ kind: 'vf-mlp', ...MLP } as ModelConfig, new Rng(6));
    x = tf.ones([2, 10]);
  });

  it('gradient-descent relaxation and energy traces', () => {
    const bound = vf.bind(x);
    const init = vf.zeroState(2);
    const before = tf.memory().numTensors;
    expect(() => new GradientDescent(0.5).relax(bound, init, { maxSteps: 3 })).toThrow(ConfigError);
    expect(() => new GradientDescent(0.5).relax(bound, init, { maxSteps: 3 })).toThrow(
      /^gradient-descent relaxation: this network has no energy \(term W1_2 is a vector field/,
    );
    expect(() => new FixedPoint().relax(bound, init, { maxSteps: 3, trace: true })).toThrow(
      /^an energy trace \(RelaxOptions\.trace\): this network has no energy/,
    );
    expect(tf.memory().numTensors).toBe(before);
    // the fixed point itself relaxes it, with no leak (the first relaxation fills the batch's cache)
    tf.dispose(new FixedPoint().relax(bound, init, { maxSteps: 3 }).state);
    const cached = tf.memory().numTensors;
    const r = new FixedPoint().relax(bound, init, { maxSteps: 3 });
    expect(tf.memory().numTensors).toBe(cached + 3);
    tf.dispose(r.state);
    bound.dispose();
  });

  it('an EP step on a VF network leaves no tensor behind', () => {
    const bound = vf.bind(x);
    const y = tf.oneHot(tf.tensor1d([0, 3], 'int32'), 4).cast('float32');
    const init = vf.zeroState(2);
    const step = () => new SymmetricEstimator(BETA).estimate({ bound, y, solver: new FixedPoint(), init, free: { maxSteps: 5 }, nudged: { maxSteps: 3 } });
    const dispose = (est: ReturnType<typeof step>) => tf.dispose([...Object.values(est.grads), ...est.free.state, ...est.nudged.flatMap((r) => r.state)]);
    dispose(step()); // fills the batch's cache (transposed B, constants)
    const before = tf.memory().numTensors;
    const est = step();
    const grads: Grads = est.grads;
    expect(Object.keys(grads).sort()).toEqual(Object.keys(vf.params).sort());
    dispose(est);
    expect(tf.memory().numTensors).toBe(before);
    bound.dispose();
  });
});
