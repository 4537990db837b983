import { Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { FixedPoint } from './fixed-point.js';
import { GradientDescent } from './gradient-descent.js';
import { type Solver, StopPredictor } from './solver.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

function setup(form: 'hopfield' | 'primitive', sizes = [12, 16, 9, 5], seed = 3) {
  const net = layeredMlp(
    { kind: 'mlp', sizes, activation: form === 'hopfield' ? 'hard-sigmoid' : 'ernoult-sigmoid', form, cost: 'mse', init: 'glorot' },
    new Rng(seed),
  );
  // stronger weights than Glorot so the relaxation has something to do
  for (const p of Object.values(net.params)) p.assign(tf.mul(p, 2));
  const x = tf.randomUniform([6, sizes[0]], 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), sizes[sizes.length - 1]).toFloat();
  return { net, x, y };
}

function nonIncreasing(trace: number[], slack = 1e-5): boolean {
  return trace.every((e, i) => i === 0 || e <= trace[i - 1] + slack * Math.max(1, Math.abs(trace[i - 1])));
}

describe('relaxation', () => {
  const cases: [string, 'hopfield' | 'primitive', Solver][] = [
    ['gradient descent (hopfield, hard sigmoid)', 'hopfield', new GradientDescent(0.5)],
    ['layer-alternating fixed point (hopfield, hard sigmoid)', 'hopfield', new FixedPoint('alternating')],
    ['layer-alternating fixed point (primitive, sigmoid)', 'primitive', new FixedPoint('alternating')],
  ];
  for (const [name, form, solver] of cases) {
    it(`${name} never increases the energy, free and nudged`, () => {
      const { net, x, y } = setup(form);
      const bound = net.bind(x);
      const init = net.zeroState(6);
      const free = solver.relax(bound, init, { maxSteps: 60, trace: true });
      expect(free.trace!.length).toBe(61);
      expect(nonIncreasing(free.trace!)).toBe(true);
      expect(free.trace![60]).toBeLessThan(free.trace![0]);
      const nudged = solver.relax(bound, free.state, { maxSteps: 30, trace: true, nudge: { beta: 0.5, y } });
      expect(nonIncreasing(nudged.trace!)).toBe(true);
      [init, free.state, nudged.state].forEach((s) => s.forEach((t) => t.dispose()));
      bound.dispose();
    });
  }

  it('stops on the tolerance and reports steps, residual and convergence', () => {
    const { net, x } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    const r = new FixedPoint('alternating').relax(bound, init, { maxSteps: 500, tol: 1e-5, checkEvery: 1 });
    expect(r.converged).toBe(true);
    expect(r.steps).toBeLessThan(500);
    expect(r.residual).toBeLessThanOrEqual(1e-5);
    const cut = new FixedPoint('alternating').relax(bound, init, { maxSteps: 2, tol: 1e-9 });
    expect(cut.converged).toBe(false);
    expect(cut.steps).toBe(2);
    expect(cut.residual).toBeGreaterThan(1e-9);
    // synchronous reaches the same fixed point
    const sync = new FixedPoint('synchronous').relax(bound, init, { maxSteps: 2000, tol: 1e-6, checkEvery: 1 });
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(sync.state[0], r.state[0]))).dataSync()[0]);
    expect(gap).toBeLessThan(1e-4);
    expect(r.steps).toBeLessThan(sync.steps);
    [init, r.state, cut.state, sync.state].forEach((s) => s.forEach((t) => t.dispose()));
    bound.dispose();
  });

  it('damped steps reach the same fixed point; a nudge outside σ is added after it', () => {
    const { net, x, y } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    const opts = { maxSteps: 3000, tol: 1e-6, checkEvery: 1 };
    const plain = new FixedPoint('synchronous').relax(bound, init, opts);
    const damped = new FixedPoint('synchronous', { stepSize: 0.3 }).relax(bound, init, opts);
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(plain.state[2], damped.state[2]))).dataSync()[0]);
    expect(gap).toBeLessThan(1e-4);
    // outside: s_L = σ(h_L) + β (y − s_L) at the nudged fixed point (MSE, C = ½‖s − y‖²)
    const beta = 0.5;
    const nudge = { beta, y };
    const out = new FixedPoint('synchronous', { stepSize: 0.3, nudge: 'outside' }).relax(bound, plain.state, { ...opts, nudge });
    const inside = new FixedPoint('synchronous', { stepSize: 0.3 }).relax(bound, plain.state, { ...opts, nudge });
    const residual = tf.tidy(() => {
      const all = bound.allActs(out.state);
      const sigma = net.activations[2].base(bound.preActivation(all, 3));
      const rhs = tf.add(sigma, tf.mul(tf.sub(y, out.state[2]), beta));
      return tf.max(tf.abs(tf.sub(out.state[2], rhs))).dataSync()[0];
    });
    expect(residual).toBeLessThan(1e-5);
    const apart = tf.tidy(() => tf.max(tf.abs(tf.sub(out.state[2], inside.state[2]))).dataSync()[0]);
    expect(apart).toBeGreaterThan(1e-2);
    [init, plain.state, damped.state, out.state, inside.state].forEach((st) => st.forEach((t) => t.dispose()));
    bound.dispose();
  });

  it('a per-example tolerance retires each example when it alone would have stopped', () => {
    const { net, x, y } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    // synchronous free; the nudged phase from zero with alternating updates (which cannot cycle)
    const cases = [
      { solver: new FixedPoint('synchronous'), nudge: undefined },
      { solver: new FixedPoint('alternating'), nudge: { beta: 0.5, y } },
    ];
    for (const { solver, nudge } of cases) {
      const opts = { maxSteps: 500, tol: 1e-5, checkEvery: 1, nudge };
      const r = solver.relax(bound, init, { ...opts, perExample: true });
      const alone = [0, 1, 2, 3, 4, 5].map((i) => {
        const bi = net.bind(x.slice([i, 0], [1, -1]));
        const zi = net.zeroState(1);
        const ri = solver.relax(bi, zi, { ...opts, nudge: nudge && { beta: nudge.beta, y: y.slice([i, 0], [1, -1]) } });
        const gap = tf.tidy(() => Math.max(...ri.state.map((s, l) => tf.max(tf.abs(tf.sub(s, r.state[l].slice([i, 0], [1, -1])))).dataSync()[0])));
        [zi, ri.state].forEach((st) => st.forEach((t) => t.dispose()));
        bi.dispose();
        return { steps: ri.steps, gap };
      });
      const steps = alone.map((a) => a.steps);
      expect(new Set(steps).size).toBeGreaterThan(1); // the examples do settle at different times
      expect(r.steps).toBe(Math.max(...steps));
      expect(r.meanSteps).toBeCloseTo(steps.reduce((a, b) => a + b) / 6, 10);
      expect(Math.max(...alone.map((a) => a.gap))).toBeLessThan(1e-6);
      expect(r.converged).toBe(true);
      expect(r.residual).toBeLessThanOrEqual(1e-5);
      r.state.forEach((t) => t.dispose());
    }
    // cut short: not converged, the largest residual is the one still moving
    const cut = new FixedPoint('synchronous').relax(bound, init, { maxSteps: 3, tol: 1e-9, perExample: true });
    expect(cut.converged).toBe(false);
    expect(cut.residual).toBeGreaterThan(1e-9);
    [init, cut.state].forEach((s) => s.forEach((t) => t.dispose()));
    bound.dispose();
  });

  it('a predicted per-example stop still depends on the example alone, and lands at or just after its crossing', () => {
    const { net, x, y } = setup('primitive');
    const bound = net.bind(x);
    const init = net.zeroState(6);
    for (const { solver, nudge } of [
      { solver: new FixedPoint('synchronous'), nudge: undefined },
      { solver: new FixedPoint('alternating'), nudge: { beta: 0.5, y } },
    ]) {
      const base = { maxSteps: 500, tol: 1e-5, nudge, perExample: true };
      const predicted = solver.relax(bound, init, { ...base, checkEvery: 5 }); // predictStops is the default
      const fixed = solver.relax(bound, init, { ...base, checkEvery: 5, predictStops: false });
      const alone = [0, 1, 2, 3, 4, 5].map((i) => {
        const bi = net.bind(x.slice([i, 0], [1, -1]));
        const zi = net.zeroState(1);
        const yi = nudge && { beta: nudge.beta, y: y.slice([i, 0], [1, -1]) };
        const run = (opts: object) => solver.relax(bi, zi, { ...base, nudge: yi, ...opts });
        const [p, every, five] = [run({ checkEvery: 5 }), run({ checkEvery: 1 }), run({ checkEvery: 5, predictStops: false })];
        const gap = tf.tidy(() => Math.max(...p.state.map((s, l) => tf.max(tf.abs(tf.sub(s, predicted.state[l].slice([i, 0], [1, -1])))).dataSync()[0])));
        [zi, p.state, every.state, five.state].forEach((st) => st.forEach((t) => t.dispose()));
        bi.dispose();
        return { predicted: p.steps, crossing: every.steps, fixed: five.steps, gap };
      });
      // in the batch each example stops exactly where it stops alone
      expect(Math.max(...alone.map((a) => a.gap))).toBe(0);
      expect(predicted.meanSteps).toBeCloseTo(alone.reduce((s, a) => s + a.predicted, 0) / 6, 10);
      for (const a of alone) {
        expect(a.predicted).toBeGreaterThanOrEqual(a.crossing);
        expect(a.predicted).toBeLessThan(a.crossing + 5);
      }
      // and sooner than reading every fifth step, in all
      expect(predicted.meanSteps).toBeLessThan(fixed.meanSteps);
      expect(predicted.converged).toBe(true);
      [predicted.state, fixed.state].forEach((st) => st.forEach((t) => t.dispose()));
    }
    init.forEach((t) => t.dispose());
    bound.dispose();
  });

  it('StopPredictor reads a geometric decay at its crossing, and never waits longer than checkEvery', () => {
    // change 0.5^t crosses 5e-4 at t = 11 (0.5^10 ≈ 9.8e-4)
    const run = (p: StopPredictor, change: (t: number) => number) => {
      const reads: number[] = [];
      for (let t = 1; t <= 60; t++) {
        if (!p.due(t)) continue;
        reads.push(t);
        if (p.settled(t, change(t))) return reads;
      }
      return reads;
    };
    const geometric = (t: number) => 0.5 ** t;
    const predicted = run(new StopPredictor(5e-4, 5, true), geometric);
    expect(predicted.at(-1)).toBe(11);
    expect(predicted.length).toBeLessThan(6);
    expect(run(new StopPredictor(5e-4, 5, false), geometric)).toEqual([5, 10, 15]);
    // a change that does not shrink: read every checkEvery steps, never settled
    const flat = run(new StopPredictor(5e-4, 5, true), (t) => 0.1 + 0.01 * (t % 2));
    expect(flat.at(-1)).toBeGreaterThan(50);
    expect(Math.max(...flat.slice(1).map((t, i) => t - flat[i]))).toBeLessThanOrEqual(5);
  });

  it('a step is σ(preActivation), the nudge inside it or added after σ, for both schedules', () => {
    const { net, x, y } = setup('primitive', [12, 16, 9, 5]);
    const bound = net.bind(x);
    for (const [schedule, nudge] of [
      ['synchronous', undefined],
      ['alternating', undefined],
      ['synchronous', { beta: 0.5, y }],
    ] as const) {
      for (const at of ['inside', 'outside'] as const) {
        const solver = new FixedPoint(schedule, { nudge: at });
        const init = net.zeroState(6);
        const relaxed = solver.relax(bound, init, { maxSteps: 12, nudge });
        // the same steps by hand: σ(preActivation), the nudge inside or added after σ
        const byHand = (all: tf.Tensor[], k: number) => {
          const z = bound.preActivation(all, k, at === 'inside' ? nudge : undefined);
          const s = net.activations[k - 1].base(z);
          return at === 'outside' && nudge && k === 3 ? tf.add(s, bound.nudgeDrive(all[k], nudge)) : s;
        };
        let state = init.map((t) => t.clone());
        for (let i = 0; i < 12; i++) {
          const next = tf.tidy(() => {
            const all = bound.allActs(state.slice());
            if (schedule === 'synchronous') return state.map((_, j) => byHand(all, j + 1));
            for (const parity of [1, 0]) {
              const fresh = [1, 2, 3].filter((k) => k % 2 === parity).map((k) => [k, byHand(all, k)] as const);
              for (const [k, t] of fresh) all[k] = t;
            }
            return all.slice(1);
          });
          state.forEach((t) => t.dispose());
          state = next;
        }
        const gap = Math.max(...relaxed.state.map((t, l) => tf.tidy(() => tf.max(tf.abs(tf.sub(t, state[l]))).dataSync()[0])));
        expect(gap).toBe(0); // the very same ops
        [...relaxed.state, ...state, ...init].forEach((t) => t.dispose());
      }
    }
    bound.dispose();
  });

  it('allocates nothing it does not free', () => {
    const { net, x, y } = setup('hopfield');
    const before = tf.memory().numTensors;
    for (const solver of [new GradientDescent(0.5), new FixedPoint('synchronous'), new FixedPoint('alternating', { stepSize: 0.5, nudge: 'outside' })]) {
      const bound = net.bind(x);
      const init = net.zeroState(6);
      const r = solver.relax(bound, init, { maxSteps: 20, tol: 1e-3, nudge: { beta: 1, y } });
      const p = solver.relax(bound, init, { maxSteps: 40, tol: 1e-3, nudge: { beta: 1, y }, perExample: true, checkEvery: 1 });
      [init, r.state, p.state].forEach((s) => s.forEach((t) => t.dispose()));
      bound.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad options with a clear message', () => {
    const { net, x } = setup('primitive');
    const bound = net.bind(x);
    expect(() => new GradientDescent(0)).toThrow(/step size ε must be > 0, got 0/);
    expect(() => new GradientDescent(0.5).relax(bound, net.zeroState(6), { maxSteps: 5 })).toThrow(/needs a network of the hopfield form/);
    expect(() => new FixedPoint().relax(bound, net.zeroState(6), { maxSteps: -1 })).toThrow(/maxSteps must be a non-negative integer, got -1/);
    expect(() => new FixedPoint().relax(bound, net.zeroState(6), { maxSteps: 5, perExample: true })).toThrow(/per-example tolerance needs tol/);
    expect(() => new FixedPoint().relax(bound, net.zeroState(6), { maxSteps: 5, tol: 1e-3, perExample: true, trace: true })).toThrow(
      /cannot be combined with perExample/,
    );
    expect(() => new FixedPoint('random' as 'synchronous')).toThrow(/schedule must be/);
    expect(() => new FixedPoint('synchronous', { stepSize: 1.5 })).toThrow(/step size must be in \(0, 1\], got 1.5/);
    expect(() => new FixedPoint('synchronous', { nudge: 'above' as 'inside' })).toThrow(/nudge placement must be "inside" or "outside", got "above"/);
    bound.dispose();
  });
});
