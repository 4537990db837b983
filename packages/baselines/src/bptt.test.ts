import { ConfigError, type Grads, Rng, type State, setupBackend, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent, type Solver } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BpttStep, bptt } from './bptt.js';
import { BpttEstimator } from './bptt-estimator.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const SIZES = [5, 7, 6, 3];
const NAMES = ['W0_1', 'b1', 'W1_2', 'b2', 'W2_3', 'b3'];
const BATCH = 4;

function setup(form: 'primitive' | 'hopfield', activation: string, seed = 3, gain = 2, biasShift = 0) {
  const rng = new Rng(seed);
  // weights `gain`× the fan-in scale, so the hidden layers matter and the gradients are not tiny
  const net = layeredMlp({ kind: 'mlp', sizes: SIZES, activation, form, cost: 'mse', init: 'fan-in' }, rng);
  // (biasShift lifts the gradient-descent nets' units off 0, where the clip would hide them)
  for (const [n, v] of Object.entries(net.params)) v.assign(tf.add(tf.mul(v, gain), n.startsWith('b') ? biasShift : 0));
  const x = tf.tensor2d(rng.uniformArray(BATCH * SIZES[0], 0, 1), [BATCH, SIZES[0]]);
  const labels = Array.from({ length: BATCH }, (_, i) => i % SIZES[3]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), SIZES[3]).toFloat();
  // a start inside the activations' range, so that no unit of the gradient-descent nets sits clipped
  const init = SIZES.slice(1).map((n) => tf.tensor2d(rng.uniformArray(BATCH * n, 0.3, 0.7), [BATCH, n]));
  return { net, x, y, init };
}

/** The dynamics written out by hand for this 3-layer net, with per-step copies of everything to differentiate. */
type Step = (s: tf.Tensor[], p: Record<string, tf.Tensor>, x: tf.Tensor, zeta: tf.Tensor[]) => tf.Tensor[];

const fields = (a: tf.Tensor[], p: Record<string, tf.Tensor>, x: tf.Tensor) => [
  tf.add(tf.add(tf.matMul(x, p.W0_1), tf.matMul(a[1], tf.transpose(p.W1_2))), p.b1),
  tf.add(tf.add(tf.matMul(a[0], p.W1_2), tf.matMul(a[2], tf.transpose(p.W2_3))), p.b2),
  tf.add(tf.matMul(a[1], p.W2_3), p.b3),
];
const ernoult = (u: tf.Tensor) => tf.sigmoid(tf.mul(4, tf.sub(u, 0.5)));
const ernoultPrime = (u: tf.Tensor) => tf.mul(4, tf.mul(ernoult(u), tf.sub(1, ernoult(u))));

const fixedPointStep: Step = (s, p, x, zeta) => fields(s, p, x).map((h, i) => ernoult(tf.add(h, zeta[i])));
// damped: ζ enters where the nudge does, inside σ (∂L/∂ζ = ∂L/∂h) or after it (∂L/∂ζ = ∂L/∂s)
const dampedStep =
  (eps: number, outside: boolean): Step =>
  (s, p, x, zeta) =>
    fields(s, p, x).map((h, i) =>
      outside
        ? tf.add(tf.add(tf.mul(s[i], 1 - eps), tf.mul(ernoult(h), eps)), zeta[i])
        : tf.add(tf.mul(s[i], 1 - eps), tf.mul(ernoult(tf.add(h, zeta[i])), eps)),
    );
const gdStep =
  (eps: number, smooth: boolean): Step =>
  (s, p, x, zeta) => {
    const a = smooth ? s.map(ernoult) : s;
    return fields(a, p, x).map((h, i) => {
      const drive = smooth ? tf.mul(ernoultPrime(s[i]), h) : h;
      return tf.clipByValue(tf.add(tf.add(tf.mul(s[i], 1 - eps), tf.mul(drive, eps)), zeta[i]), 0, 1);
    });
  };

/** Per-step ∂L/∂s, ∂L/∂u, ∂L/∂θ of the last K steps by tf.grad, with L the batch mean of ½‖out − y‖². */
function autodiffSteps(net: EnergyNetwork, step: Step, smoothOut: boolean, x: tf.Tensor, y: tf.Tensor, start: State, K: number) {
  const L = net.depth;
  const zeros: tf.Tensor[] = [];
  const idx = { eta: [] as number[][], eps: [] as number[][], zeta: [] as number[][] };
  const push = (t: tf.Tensor) => zeros.push(tf.zerosLike(t)) - 1;
  for (let k = 0; k < K; k++) {
    idx.eta.push(NAMES.map((n) => push(net.params[n])));
    idx.eps.push(start.map(push));
    idx.zeta.push(start.map(push));
  }
  const f = (...v: tf.Tensor[]) => {
    let s = start;
    for (let j = 0; j < K; j++) {
      const k = K - 1 - j;
      const p = Object.fromEntries(NAMES.map((n, i) => [n, tf.add(net.params[n], v[idx.eta[k][i]])]));
      s = step(
        s,
        p,
        x,
        idx.zeta[k].map((i) => v[i]),
      ).map((t, i) => tf.add(t, v[idx.eps[k][i]]));
    }
    const out = smoothOut ? ernoult(s[L - 1]) : s[L - 1];
    // + 0·Σv: tf.grads refuses inputs the loss does not reach (hidden layers at k = 0)
    return tf.add(tf.mean(tf.mul(0.5, tf.sum(tf.square(tf.sub(out, y)), 1))), tf.mul(0, tf.addN(v.map((t) => tf.sum(t)))));
  };
  const g = tf.grads(f)(zeros);
  return Array.from({ length: K }, (_, k) => ({
    state: idx.eps[k].map((i) => g[i]),
    pre: idx.zeta[k].map((i) => g[i]),
    params: Object.fromEntries(NAMES.map((n, i) => [n, g[idx.eta[k][i]]])),
  }));
}

function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0] / (tf.norm(b).dataSync()[0] + 1e-12));
}

function expectStepsMatch(ours: BpttStep[], ref: ReturnType<typeof autodiffSteps>) {
  expect(ours.length).toBe(ref.length);
  ours.forEach((st, k) => {
    st.state.forEach((t, i) => {
      // ours are per-example gradients of each example's own cost; L is their batch mean
      const ex = tf.div(t, BATCH);
      if (tf.norm(ref[k].state[i]).dataSync()[0] === 0) expect(tf.norm(t).dataSync()[0]).toBe(0);
      else expect(relErr(ex, ref[k].state[i]), `∂L/∂s layer ${i + 1} at k=${k}`).toBeLessThan(1e-4);
      if (tf.norm(ref[k].pre[i]).dataSync()[0] > 0)
        expect(relErr(tf.div(st.pre[i], BATCH), ref[k].pre[i]), `∂L/∂u layer ${i + 1} at k=${k}`).toBeLessThan(1e-4);
    });
    for (const n of NAMES) {
      // a structural zero (k = 0, away from the output) comes out of a difference of matmuls: rounding only
      if (tf.norm(ref[k].params[n]).dataSync()[0] === 0) expect(tf.norm(st.params[n]).dataSync()[0]).toBeLessThan(1e-6);
      else expect(relErr(st.params[n], ref[k].params[n]), `∂L/∂${n} at k=${k}`).toBeLessThan(1e-4);
    }
  });
}

function dispose(r: { state: State; grads: Grads; steps?: BpttStep[] }) {
  r.state.forEach((t) => t.dispose());
  Object.values(r.grads).forEach((t) => t.dispose());
  r.steps?.forEach((s) => [...s.state, ...s.pre, ...Object.values(s.params)].forEach((t) => t.dispose()));
}

interface Case {
  name: string;
  form: 'primitive' | 'hopfield';
  activation: string;
  solver: Solver;
  step: Step;
  smoothOut: boolean;
  gain: number;
  biasShift: number;
}
const cases: Case[] = [
  {
    name: 'fixed point (prototypical)',
    form: 'primitive',
    activation: 'ernoult-sigmoid',
    solver: new FixedPoint('synchronous'),
    step: fixedPointStep,
    smoothOut: false,
    gain: 2,
    biasShift: 0,
  },
  {
    name: 'damped fixed point, nudge inside',
    form: 'primitive',
    activation: 'ernoult-sigmoid',
    solver: new FixedPoint('synchronous', { stepSize: 0.3 }),
    step: dampedStep(0.3, false),
    smoothOut: false,
    gain: 2,
    biasShift: 0,
  },
  {
    name: 'damped fixed point, nudge outside (Ernoult)',
    form: 'primitive',
    activation: 'ernoult-sigmoid',
    solver: new FixedPoint('synchronous', { stepSize: 0.3, nudge: 'outside' }),
    step: dampedStep(0.3, true),
    smoothOut: false,
    gain: 2,
    biasShift: 0,
  },
  {
    name: 'gradient descent, ernoult sigmoid',
    form: 'hopfield',
    activation: 'ernoult-sigmoid',
    solver: new GradientDescent(0.2),
    step: gdStep(0.2, true),
    smoothOut: true,
    gain: 1,
    biasShift: 0.5,
  },
  {
    name: 'gradient descent, hard sigmoid',
    form: 'hopfield',
    activation: 'hard-sigmoid',
    solver: new GradientDescent(0.3),
    step: gdStep(0.3, false),
    smoothOut: false,
    gain: 1,
    biasShift: 0.5,
  },
];

describe.each(cases)('bptt through $name', ({ form, activation, solver, step, smoothOut, gain, biasShift }) => {
  const T = 9;
  const K = 5;

  it('gives every step’s neuron and parameter gradients as tf.grad does', () => {
    const { net, x, y, init } = setup(form, activation, 3, gain, biasShift);
    const bound = net.bind(x);
    const start = solver.relax(bound, init, { maxSteps: T - K }).state;
    const ref = autodiffSteps(net, step, smoothOut, x, y, start, K);
    const r = bptt(bound, y, init, { solver, freeSteps: T, truncation: K, record: true });
    expectStepsMatch(r.steps!, ref);
    // k = 0: only the output layer gets a gradient; the signal climbs one layer per step
    expect(tf.norm(r.steps![0].state[0]).dataSync()[0]).toBe(0);
    expect(tf.norm(r.steps![1].state[1]).dataSync()[0]).toBeGreaterThan(0);
    dispose(r);
  });

  it('runs exactly the solver’s dynamics, and its summed gradient is the sum of the steps', () => {
    const { net, x, y, init } = setup(form, activation, 7, gain, biasShift);
    const before = tf.memory().numTensors;
    const bound = net.bind(x);
    const rec = bptt(bound, y, init, { solver, freeSteps: T, truncation: K, record: true });
    const sum = bptt(bound, y, init, { solver, freeSteps: T, truncation: K });
    const relaxed = solver.relax(bound, init, { maxSteps: T }).state;
    relaxed.forEach((s, i) => {
      expect(Array.from(rec.state[i].dataSync())).toEqual(Array.from(s.dataSync()));
    });
    for (const n of NAMES) {
      const steps = tf.addN(rec.steps!.map((s) => s.params[n]));
      expect(relErr(sum.grads[n], steps), n).toBeLessThan(1e-5);
      expect(relErr(rec.grads[n], steps), n).toBeLessThan(1e-6);
      steps.dispose();
    }
    dispose(rec);
    dispose(sum);
    relaxed.forEach((t) => t.dispose());
    bound.dispose(); // it holds the per-batch cache (scaled and transposed weights)
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('bptt rejects what it cannot do', () => {
  it('names K and T when K > T, and refuses the alternating schedule', () => {
    const { net, x, y } = setup('primitive', 'ernoult-sigmoid');
    const bound = net.bind(x);
    const zeros = net.zeroState(BATCH);
    const run = (solver: Solver, T: number, K: number) => () => bptt(bound, y, zeros, { solver, freeSteps: T, truncation: K });
    expect(run(new FixedPoint('synchronous'), 10, 12)).toThrow(ConfigError);
    expect(run(new FixedPoint('synchronous'), 10, 12)).toThrow(/K = 12 .*T = 10/);
    expect(run(new FixedPoint('synchronous'), 10, 0)).toThrow(/K must be a positive integer, got 0/);
    expect(run(new FixedPoint('alternating'), 10, 5)).toThrow(/synchronous/);
    expect(() => new BpttEstimator(new FixedPoint('synchronous'), 5, 6)).toThrow(/K = 6/);
  });

  it('the estimator trains: steps along its gradient lower the loss', () => {
    const { net, x, y } = setup('primitive', 'ernoult-sigmoid', 3, 1);
    const est = new BpttEstimator(new FixedPoint('synchronous'), 30, 30);
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) {
      tf.tidy(() => {
        const bound = net.bind(x);
        const r = est.estimate({ bound, y, init: net.zeroState(BATCH) });
        losses.push(tf.mean(net.cost.cost(r.state[r.state.length - 1], y)).dataSync()[0]);
        for (const [n, g] of Object.entries(r.grads)) net.params[n].assign(tf.sub(net.params[n], tf.mul(g, 1)));
        bound.dispose();
      });
    }
    expect(losses[29]).toBeLessThan(losses[0] * 0.8);
  });
});
