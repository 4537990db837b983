import { ConfigError, type Grads, NumericalError, Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent, type Solver } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { bptt } from './bptt.js';
import { RbpEstimator, recurrentBackprop, trueGradient } from './recurrent-backprop.js';
import { type F64Form, f64TrueGradient, toF64 } from './testing/float64-mlp.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const BATCH = 4;

function setup(sizes: number[], form: 'primitive' | 'hopfield', activation: string, cost: 'mse' | 'ce', biasShift: number, seed = 3) {
  const rng = new Rng(seed);
  const net = layeredMlp({ kind: 'mlp', sizes, activation, form, cost, init: 'fan-in' }, rng);
  for (const [n, v] of Object.entries(net.params)) if (n.startsWith('b') && biasShift) v.assign(tf.add(v, biasShift));
  const x = tf.tensor2d(rng.uniformArray(BATCH * sizes[0], 0, 1), [BATCH, sizes[0]]);
  const classes = sizes.at(-1)!;
  const y = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: BATCH }, (_, i) => i % classes),
        'int32',
      ),
      classes,
    )
    .toFloat();
  return { net, x, y };
}

function relErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0] / (tf.norm(b).dataSync()[0] + 1e-12));
}

function dispose(g: Grads) {
  Object.values(g).forEach((t) => t.dispose());
}

interface Case {
  name: string;
  form: 'primitive' | 'hopfield';
  activation: string;
  solver: Solver;
  f64: F64Form;
  biasShift: number;
}
const cases: Case[] = [
  {
    name: 'the fixed-point form (prototypical)',
    form: 'primitive',
    activation: 'ernoult-sigmoid',
    solver: new FixedPoint('synchronous'),
    f64: { kind: 'primitive-fp', gain: 4, centre: 0.5 },
    biasShift: 0,
  },
  {
    name: 'the Hopfield form (gradient descent, hard sigmoid)',
    form: 'hopfield',
    activation: 'hard-sigmoid',
    solver: new GradientDescent(0.5),
    f64: { kind: 'hopfield-gd', eps: 0.5 },
    biasShift: 0.3,
  },
];
const SIZES = [5, 7, 6, 3];

describe.each(cases)('recurrent backprop on $name', ({ form, activation, solver, f64, biasShift }) => {
  it('equals BPTT run long enough (and not BPTT cut short)', () => {
    const { net, x, y } = setup(SIZES, form, activation, 'mse', biasShift);
    const bound = net.bind(x);
    const zeros = net.zeroState(BATCH);
    const rbp = recurrentBackprop(bound, y, zeros, { solver, freeSteps: 800, tol: 1e-7 });
    expect(rbp.converged).toBe(true);
    expect(rbp.freeResidual).toBeLessThanOrEqual(1e-7);
    const long = bptt(bound, y, zeros, { solver, freeSteps: 800, truncation: 400 });
    const short = bptt(bound, y, zeros, { solver, freeSteps: 800, truncation: 2 });
    for (const name of Object.keys(net.params)) {
      expect(relErr(rbp.grads[name], long.grads[name]), name).toBeLessThan(1e-4);
    }
    expect(relErr(rbp.grads.W0_1, short.grads.W0_1)).toBeGreaterThan(0.05);
    [rbp, long, short].forEach((r) => {
      dispose(r.grads);
      r.state.forEach((t) => t.dispose());
    });
    bound.dispose();
  });

  it('equals the float64 finite-difference gradient of the equilibrium loss', () => {
    const { net, x, y } = setup(SIZES, form, activation, 'mse', biasShift, 11);
    const before = tf.memory().numTensors;
    const { grads: g, converged } = trueGradient(net, { x, y }, { solver, freeSteps: 800, tol: 1e-7 });
    expect(converged).toBe(true);
    expect(tf.memory().numTensors).toBe(before + Object.keys(g).length);
    const xs = tf.unstack(x).map((t) => Array.from(t.dataSync()));
    const ys = tf.unstack(y).map((t) => Array.from(t.dataSync()));
    const fd = f64TrueGradient(toF64(net, SIZES), f64, xs, ys, 400);
    for (const [name, values] of Object.entries(fd)) {
      const ref = tf.tensor(values, g[name].shape);
      expect(relErr(g[name], ref), name).toBeLessThan(2e-3);
      ref.dispose();
    }
    dispose(g);
  });
});

describe('recurrent backprop', () => {
  it('includes the CE readout and agrees with long BPTT there too', () => {
    const { net, x, y } = setup([5, 8, 6, 3], 'primitive', 'ernoult-sigmoid', 'ce', 0, 5);
    const solver = new FixedPoint('synchronous');
    const bound = net.bind(x);
    const zeros = net.zeroState(BATCH);
    const rbp = recurrentBackprop(bound, y, zeros, { solver, freeSteps: 800, tol: 1e-7 });
    const long = bptt(bound, y, zeros, { solver, freeSteps: 800, truncation: 400 });
    expect(Object.keys(rbp.grads).sort()).toEqual(Object.keys(net.params).sort());
    expect(rbp.grads.Wout).toBeDefined();
    for (const name of Object.keys(net.params)) expect(relErr(rbp.grads[name], long.grads[name]), name).toBeLessThan(1e-4);
    bound.dispose();
  });

  it('through a CE readout equals the float64 finite-difference gradient of the equilibrium loss, every layer and the readout', () => {
    const sizes = [5, 8, 6, 3];
    const { net, x, y } = setup(sizes, 'primitive', 'ernoult-sigmoid', 'ce', 0, 5);
    const { grads: g } = trueGradient(net, { x, y }, { solver: new FixedPoint('synchronous'), freeSteps: 800, tol: 1e-7 });
    const xs = tf.unstack(x).map((t) => Array.from(t.dataSync()));
    const ys = tf.unstack(y).map((t) => Array.from(t.dataSync()));
    // the energy's layers are [5, 8, 6]; the readout 6 → 3 classes comes from the net's Wout, bout
    const fd = f64TrueGradient(toF64(net, sizes.slice(0, -1)), { kind: 'primitive-fp', gain: 4, centre: 0.5 }, xs, ys, 400);
    expect(Object.keys(fd).sort()).toEqual(Object.keys(net.params).sort());
    expect(Object.keys(g).sort()).toEqual(Object.keys(net.params).sort());
    for (const [name, values] of Object.entries(fd)) {
      const ref = tf.tensor(values, g[name].shape);
      // measured: ≤ 5.8e-7 (float32 rounding); a wrong sign or scale of ∂C/∂s_L, or a dropped readout, is O(1)
      expect(relErr(g[name], ref), name).toBeLessThan(2e-5);
      ref.dispose();
    }
    dispose(g);
  });

  it('trains as a gradient source: steps along its gradient lower the loss', () => {
    // small steps: under large ones the free equilibrium of a recurrent net can jump to another basin
    const { net, x, y } = setup(SIZES, 'primitive', 'ernoult-sigmoid', 'mse', 0, 7);
    const est = new RbpEstimator({ solver: new FixedPoint('synchronous'), freeSteps: 500, tol: 1e-6 });
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) {
      tf.tidy(() => {
        const bound = net.bind(x);
        const r = est.estimate({ bound, y, init: net.zeroState(BATCH) });
        losses.push(tf.mean(net.cost.cost(r.state.at(-1)!, y)).dataSync()[0]);
        for (const [n, g] of Object.entries(r.grads)) net.params[n].assign(tf.sub(net.params[n], tf.mul(g, 0.5)));
        bound.dispose();
      });
    }
    expect(losses[9], losses.join()).toBeLessThan(losses[0] * 0.8);
  });

  it('says so when the free phase stopped short of a stable fixed point (the adjoint diverges), with the numbers that show it', () => {
    const net = layeredMlp({ kind: 'mlp', sizes: [8, 12, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse', init: 'glorot' }, new Rng(1));
    const rng = new Rng(9);
    const x = tf.tensor2d(rng.uniformArray(10 * 8, 0, 1), [10, 8]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 'int32'), 3).toFloat();
    const solver = new GradientDescent(0.5);
    const tol = 1e-6;
    const before = tf.memory().numTensors;
    const run = (freeSteps: number) => () => trueGradient(net, { x, y }, { solver, freeSteps, tol, adjointSteps: 400 });
    let error: unknown;
    try {
      run(100)();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NumericalError);
    expect(tf.memory().numTensors).toBe(before);
    const message = (error as Error).message;
    const parts = message.match(
      /^recurrent backprop: the adjoint iteration does not converge \(relative change (\S+) after (\d+) steps\): the free phase \((\d+) steps, last change (\S+)\) did not reach a stable fixed point; give it more steps$/,
    );
    expect(parts, message).not.toBeNull();
    const [adjointChange, adjointSteps, freeSteps, lastChange] = parts!.slice(1).map(Number);
    // the adjoint stopped within its budget, short of the 1e-3 a strict oracle needs
    expect(adjointSteps).toBeLessThanOrEqual(400);
    expect(adjointChange).toBeGreaterThan(1e-3);
    // the free phase: the steps it was given and its last step's change, which is that relaxation's
    // own residual (printed to 3 digits) and far above the tolerance it was asked to reach
    expect(freeSteps).toBe(100);
    const bound = net.bind(x);
    const zeros = net.zeroState(10);
    const free = solver.relax(bound, zeros, { maxSteps: 100, tol });
    expect(free.converged).toBe(false);
    expect(Math.abs(lastChange - free.residual) / free.residual).toBeLessThan(5e-3);
    expect(lastChange).toBeGreaterThan(1e3 * tol);
    [...free.state, ...zeros].forEach((t) => t.dispose());
    bound.dispose();
    // given the steps it needs, the same call succeeds
    const enough = run(400)();
    expect(enough.converged).toBe(true);
    dispose(enough.grads);
  });

  it('the oracle says whether it converged: an adjoint cut short (strict: false) or a free phase short of its tol is not', () => {
    const { net, x, y } = setup(SIZES, 'primitive', 'ernoult-sigmoid', 'mse', 0, 3);
    const solver = new FixedPoint('synchronous');
    const full = trueGradient(net, { x, y }, { solver, freeSteps: 800, tol: 1e-7 });
    expect([full.converged, full.adjointResidual <= 1e-6, full.freeResidual <= 1e-7]).toEqual([true, true, true]);
    const cut = trueGradient(net, { x, y }, { solver, freeSteps: 800, tol: 1e-7, adjointSteps: 5, strict: false });
    expect([cut.converged, cut.adjointSteps]).toEqual([false, 5]);
    expect(cut.adjointResidual).toBeGreaterThan(1e-6);
    // 3 free steps do not reach 1e-7; the adjoint at that state still converges
    const short = trueGradient(net, { x, y }, { solver, freeSteps: 3, tol: 1e-7, strict: false });
    expect([short.converged, short.freeSteps]).toEqual([false, 3]);
    expect(short.freeResidual).toBeGreaterThan(1e-7);
    [full, cut, short].forEach((r) => dispose(r.grads));
  });

  it('refuses dynamics it cannot differentiate, and bad adjoint settings, by name', () => {
    const { net, x, y } = setup(SIZES, 'primitive', 'ernoult-sigmoid', 'mse', 0);
    expect(() => new RbpEstimator({ solver: new FixedPoint('alternating'), freeSteps: 10 })).toThrow(/synchronous/);
    const bad = () => trueGradient(net, { x, y }, { solver: new FixedPoint('synchronous'), freeSteps: 10, adjointSteps: 0 });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/adjoint steps must be a positive integer, got 0/);
  });
});
