import { Rng, type State, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { FixedPoint } from './fixed-point.js';
import { GradientDescent } from './gradient-descent.js';
import { iterate, type Solver } from './solver.js';

// RelaxOptions.clamp: one free layer held at a given state while the others relax (coupled
// learning's clamped phase), honoured by both solvers and both iteration loops

beforeAll(async () => {
  await setupBackend('wasm');
});

const sizes = [12, 16, 9, 5];
const L = sizes.length - 1;

function setup(form: 'hopfield' | 'primitive') {
  const net = layeredMlp(
    { kind: 'mlp', sizes, activation: form === 'hopfield' ? 'hard-sigmoid' : 'ernoult-sigmoid', form, cost: 'mse', init: 'glorot' },
    new Rng(3),
  );
  for (const p of Object.values(net.params)) p.assign(tf.mul(p, 2));
  const x = tf.randomUniform([6, sizes[0]], 0, 1, 'float32', 3);
  const held = tf.randomUniform([6, sizes[L]], 0.1, 0.9, 'float32', 4);
  return { net, x, held };
}

const dispose = (...states: State[]) => states.forEach((s) => tf.dispose(s));
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('relaxation with a clamped layer', () => {
  const cases: [string, 'hopfield' | 'primitive', Solver][] = [
    ['gradient descent (hopfield)', 'hopfield', new GradientDescent(0.5)],
    ['alternating fixed point (hopfield)', 'hopfield', new FixedPoint('alternating')],
    // undamped, the synchronous iteration oscillates on this network (period 2): damped, it converges
    ['damped synchronous fixed point (primitive)', 'primitive', new FixedPoint('synchronous', { stepSize: 0.5 })],
    ['alternating fixed point (primitive)', 'primitive', new FixedPoint('alternating')],
  ];
  for (const [name, form, solver] of cases) {
    it(`${name}: the output stays exactly at its value and the hidden layers reach the fixed point with it held`, () => {
      const { net, x, held } = setup(form);
      const bound = net.bind(x);
      const init = net.zeroState(6);
      const r = solver.relax(bound, init, { maxSteps: 2000, tol: 1e-7, checkEvery: 1, clamp: { layer: L, value: held } });
      expect(r.converged, `residual ${r.residual} after ${r.steps} steps`).toBe(true);
      expect(r.state[L - 1].dataSync()).toEqual(held.dataSync());
      // one free synchronous step from there (every layer from the same state, no clamp): the
      // hidden layers do not move, the output does
      const probe = (solver instanceof GradientDescent ? solver : new FixedPoint('synchronous')).relax(bound, r.state, { maxSteps: 1 });
      for (let k = 1; k < L; k++) expect(maxAbsDiff(probe.state[k - 1], r.state[k - 1]), `layer ${k}`).toBeLessThan(1e-5);
      expect(maxAbsDiff(probe.state[L - 1], held)).toBeGreaterThan(1e-2);
      dispose(init, r.state, probe.state);
      bound.dispose();
      tf.dispose([x, held]);
    });
  }

  it('the per-example loop reaches the clamped fixed point of the batch loop', () => {
    const { net, x, held } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    const opts = { maxSteps: 2000, tol: 1e-7, checkEvery: 1, clamp: { layer: L, value: held } };
    const a = new FixedPoint('alternating').relax(bound, init, opts);
    const c = new FixedPoint('alternating').relax(bound, init, { ...opts, perExample: true });
    expect(c.converged).toBe(true);
    expect(c.state[L - 1].dataSync()).toEqual(held.dataSync());
    for (let k = 1; k < L; k++) {
      expect(maxAbsDiff(a.state[k - 1], c.state[k - 1]), `layer ${k}, per example`).toBeLessThan(1e-5);
    }
    dispose(init, a.state, c.state);
    bound.dispose();
    tf.dispose([x, held]);
  });

  it('the loop holds the layer even for a step that ignores the clamp', () => {
    const { net, x, held } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    const r = iterate(bound, init, { maxSteps: 3, clamp: { layer: L, value: held } }, (state) => tf.tidy(() => state.map((t) => tf.add(t, 1))));
    expect(r.state[L - 1].dataSync()).toEqual(held.dataSync());
    expect(r.state[0].dataSync().every((v) => v === 3)).toBe(true);
    dispose(init, r.state);
    bound.dispose();
    tf.dispose([x, held]);
  });

  it('allocates nothing it does not free (batch and per-example loops)', () => {
    const { net, x, held } = setup('primitive');
    const clamp = { layer: L, value: held };
    const before = tf.memory().numTensors;
    for (const solver of [new FixedPoint('alternating'), new FixedPoint('synchronous')]) {
      const bound = net.bind(x);
      const init = net.zeroState(6);
      const r = solver.relax(bound, init, { maxSteps: 20, tol: 1e-3, clamp });
      const p = solver.relax(bound, init, { maxSteps: 200, tol: 1e-6, checkEvery: 1, perExample: true, clamp });
      dispose(init, r.state, p.state);
      bound.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, held]);
  });

  it('rejects a clamp on a layer that is not free, or of the wrong shape, in one line', () => {
    const { net, x, held } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    const relax = (layer: number, value: tf.Tensor) => () => new FixedPoint().relax(bound, init, { maxSteps: 1, clamp: { layer, value } });
    expect(relax(0, held)).toThrow(/^clamp\.layer must be a free layer, 1 … 3, got 0$/);
    expect(relax(2, held)).toThrow(/^clamp\.value of layer 2 must have shape \[6,9\], got \[6,5\]$/);
    dispose(init);
    bound.dispose();
    tf.dispose([x, held]);
  });
});
