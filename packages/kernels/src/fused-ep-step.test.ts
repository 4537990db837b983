import { type Grads, NumericalError, Rng, setupBackend, tf } from '@eqprop/core';
import { DenseCoupling, VfDenseCoupling } from '@eqprop/energies';
import { layeredMlp, withTerms } from '@eqprop/models';
import { FixedPoint, type FixedPointOptions, type FixedPointSchedule, type RelaxOptions } from '@eqprop/solvers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EpEstimate, type EpPhaseOptions, FusedEpStep } from './fused-ep-step.js';
import { FusedFixedPoint } from './fused-fixed-point.js';
import { FusedOptimizer } from './fused-optimizer.js';
import { KernelTeam } from './kernel-team.js';
import { relGap } from './test-utils.js';

let pair: KernelTeam;
beforeAll(async () => {
  await setupBackend('wasm');
  pair = await KernelTeam.start({ threads: 2 });
});
afterAll(() => pair.dispose());

// layers of 16, 12 and 6 from 20 inputs, 9 examples: both product forms, every tile's remainder,
// gradient rows split 10/10, 8/8 and 6/6 between two threads
// sparse: ~80 % of the input zero and 5 inputs zero in every example, as MNIST (the products with
// the input then skip its zeros)
function setup(form: 'hopfield' | 'primitive', seed = 5, batch = 9, sparse = false) {
  const net = layeredMlp(
    { kind: 'mlp', sizes: [20, 16, 12, 6], activation: form === 'hopfield' ? 'hard-sigmoid' : 'ernoult-sigmoid', form, cost: 'mse', init: 'glorot' },
    new Rng(seed),
  );
  for (const p of Object.values(net.params)) p.assign(tf.mul(p, 2)); // something to relax
  const rng = new Rng(seed + 1);
  for (const [k, p] of Object.entries(net.params)) if (k.startsWith('b')) p.assign(tf.tensor(rng.uniformArray(p.size, -0.1, 0.1), p.shape)); // biases not 0
  const dense = tf.randomUniform([batch, 20], 0, 1, 'float32', seed);
  const mask = Array.from({ length: batch * 20 }, (_, i) => (i % 20 < 5 || rng.next() < 0.75 ? 0 : 1));
  const x = sparse ? tf.tidy(() => tf.mul(dense, tf.tensor2d(mask, [batch, 20]))) : dense;
  if (sparse) dense.dispose();
  const y = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % 6),
        'int32',
      ),
      6,
    )
    .toFloat();
  return { net, x, y };
}

/** A FusedEpStep on `team` with an optimizer over the network's parameters. */
function stepOn(team: KernelTeam, net: ReturnType<typeof setup>['net'], fp: FixedPoint) {
  const optimizer = new FusedOptimizer({ kind: 'sgd', lrs: [0.1] }, net.params, () => 0.1, team);
  return { step: new FusedEpStep(net, new FusedFixedPoint(fp, 'fused', team), optimizer), optimizer };
}

/** The op-by-op path: FixedPoint's phases and BoundNetwork.paramGradsDiff, as the estimators run them. */
function reference(
  net: ReturnType<typeof setup>['net'],
  x: tf.Tensor,
  y: tf.Tensor,
  fp: FixedPoint,
  est: EpEstimate,
  free: EpPhaseOptions,
  nudged: EpPhaseOptions,
) {
  const bound = net.bind(x);
  const init = net.zeroState(x.shape[0]);
  const f = fp.relax(bound, init, free as RelaxOptions);
  const a = fp.relax(bound, f.state, { ...nudged, nudge: { beta: est.beta, y } });
  const b = est.kind === 'symmetric' ? fp.relax(bound, f.state, { ...nudged, nudge: { beta: -est.beta, y } }) : f;
  const grads: Grads =
    est.kind === 'symmetric' ? bound.paramGradsDiff(a.state, b.state, 1 / (2 * est.beta), f.state) : bound.paramGradsDiff(a.state, f.state, 1 / est.beta);
  const values = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice()]));
  const state = f.state.map((s) => s.dataSync().slice());
  tf.dispose([...Object.values(grads), ...init, ...a.state, ...f.state, ...(b === f ? [] : b.state)]);
  bound.dispose();
  return { grads: values, state, steps: f.steps, meanSteps: f.meanSteps };
}

describe('FusedEpStep: a whole EP batch in the kernels gives the gradients of the op-by-op path, on one thread and on two alike', () => {
  it('the team has two threads here', () => expect(pair.threads).toBe(2));
  const cases: [string, FixedPointSchedule, FixedPointOptions, EpEstimate, EpPhaseOptions, EpPhaseOptions, 'primitive' | 'hopfield', boolean?][] = [
    ['synchronous, one-sided, fixed steps', 'synchronous', {}, { kind: 'one-sided', beta: 0.5 }, { maxSteps: 30 }, { maxSteps: 10 }, 'primitive'],
    [
      'synchronous, symmetric, a sparse input (80 % zeros, as MNIST)',
      'synchronous',
      {},
      { kind: 'symmetric', beta: 0.5 },
      { maxSteps: 30 },
      { maxSteps: 10 },
      'primitive',
      true,
    ],
    [
      'synchronous, random-sign (β < 0), nudge outside',
      'synchronous',
      { nudge: 'outside' },
      { kind: 'one-sided', beta: -0.5 },
      { maxSteps: 30 },
      { maxSteps: 10 },
      'primitive',
    ],
    [
      'alternating, symmetric, damped, batch tolerance',
      'alternating',
      { stepSize: 0.5 },
      { kind: 'symmetric', beta: 0.4 },
      { maxSteps: 200, tol: 2e-5 },
      { maxSteps: 100, tol: 2e-5 },
      'primitive',
    ],
    [
      'synchronous, one-sided, per-example tolerance, hopfield',
      'synchronous',
      { stepSize: 0.4 },
      { kind: 'one-sided', beta: 0.5 },
      { maxSteps: 200, tol: 2e-5, perExample: true },
      { maxSteps: 100, tol: 2e-5, perExample: true },
      'hopfield',
    ],
  ];
  for (const [name, schedule, fpOpts, est, free, nudged, form, sparse] of cases) {
    it(name, () => {
      const { net, x, y } = setup(form, 5, 9, sparse);
      const fp = new FixedPoint(schedule, fpOpts);
      const want = reference(net, x, y, fp, est, free, nudged);
      const before = tf.memory().numTensors;
      const results = [KernelTeam.single(), pair].map((team) => {
        const { step, optimizer } = stepOn(team, net, fp);
        const r = step.run(x, y, est, free, nudged);
        const grads = Object.fromEntries(Object.keys(net.params).map((k) => [k, team.K.view(optimizer.slot(k).g, optimizer.slot(k).size).slice()]));
        step.dispose();
        optimizer.dispose();
        return { r, grads };
      });
      expect(tf.memory().numTensors).toBe(before);
      const [one, two] = results;
      expect([one.r.free.steps, one.r.free.meanSteps]).toEqual([want.steps, want.meanSteps]);
      one.r.freeState.forEach((s, i) => expect(relGap(s, want.state[i])).toBeLessThan(1e-5));
      for (const k of Object.keys(want.grads)) expect(relGap(one.grads[k], want.grads[k])).toBeLessThan(1e-4);
      // the gradients are not all zero: the comparison is of something
      expect(Math.max(...Object.values(want.grads).map((g) => Math.max(...Array.from(g, Math.abs))))).toBeGreaterThan(1e-3);
      // two threads: bit for bit
      expect(two.r.free).toEqual(one.r.free);
      expect(two.r.freeState.map((s) => Array.from(s))).toEqual(one.r.freeState.map((s) => Array.from(s)));
      for (const k of Object.keys(one.grads)) expect(Array.from(two.grads[k])).toEqual(Array.from(one.grads[k]));
      tf.dispose([x, y, ...Object.values(net.params)]);
    });
  }

  it('batch after batch: the same kernel memory (nothing grows), no tensor left, all of it freed by dispose; parameters read again when assigned elsewhere', () => {
    const { net, x, y } = setup('primitive');
    const fp = new FixedPoint('synchronous');
    const opts = { maxSteps: 12 };
    const est: EpEstimate = { kind: 'one-sided', beta: 0.5 };
    const warm = stepOn(pair, net, fp); // the team's program buffers reach their size
    warm.step.run(x, y, est, opts, opts);
    warm.step.dispose();
    warm.optimizer.dispose();
    const base = pair.K.bytesInUse;
    const { step, optimizer } = stepOn(pair, net, fp);
    step.run(x, y, est, opts, opts);
    optimizer.stepSlots(1);
    const bytes = pair.K.memory.buffer.byteLength;
    const used = pair.K.bytesInUse;
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      step.run(x, y, est, opts, opts);
      optimizer.stepSlots(1);
    }
    expect([pair.K.memory.buffer.byteLength, pair.K.bytesInUse, tf.memory().numTensors]).toEqual([bytes, used, tensors]);
    // a parameter assigned from outside (a checkpoint restored) is what the next batch uses
    const w = net.params.W0_1;
    w.assign(tf.zerosLike(w));
    const r = step.run(x, y, est, opts, opts);
    const ref = reference(net, x, y, fp, est, opts, opts);
    r.freeState.forEach((s, i) => expect(relGap(s, ref.state[i])).toBeLessThan(1e-5));
    step.dispose();
    optimizer.dispose();
    expect(pair.K.bytesInUse).toBe(base);
    tf.dispose([x, y, ...Object.values(net.params)]);
  });

  it('names the first parameter, state or gradient that is not finite, before any update', () => {
    const { net, x, y } = setup('primitive');
    const { step, optimizer } = stepOn(pair, net, new FixedPoint('synchronous'));
    const b = net.params.b3;
    b.assign(tf.fill(b.shape, Number.NaN));
    expect(() => step.run(x, y, { kind: 'one-sided', beta: 0.5 }, { maxSteps: 5 }, { maxSteps: 5 })).toThrow(NumericalError);
    expect(() => step.run(x, y, { kind: 'one-sided', beta: 0.5 }, { maxSteps: 5 }, { maxSteps: 5 })).toThrow(
      /non-finite values \(NaN or Inf\) in parameter b3/,
    );
    b.assign(tf.zeros(b.shape));
    // a β so small that 1/β overflows float32: finite states, infinite gradients (the first: W0_1's)
    expect(() => step.run(x, y, { kind: 'one-sided', beta: 1e-40 }, { maxSteps: 5 }, { maxSteps: 5 })).toThrow(
      /^non-finite values \(NaN or Inf\) in the gradient of W0_1$/,
    );
    // a NaN input: the state of layer 1
    const nan = x.mul(Number.NaN);
    expect(() => step.run(nan, y, { kind: 'one-sided', beta: 0.5 }, { maxSteps: 5 }, { maxSteps: 5 })).toThrow(
      /^non-finite values \(NaN or Inf\) in the state of layer 1 at the free equilibrium$/,
    );
    step.dispose();
    optimizer.dispose();
    tf.dispose([x, y, nan, ...Object.values(net.params)]);
  });
});

describe('FusedEpStep applies to dense couplings and biases only', () => {
  it('refuses a network with a vector-field coupling or a subclass of DenseCoupling (their fields may differ), naming the term', () => {
    const { net } = setup('primitive');
    const rng = new Rng(1);
    const w = () => tf.variable(tf.tensor2d(rng.uniformArray(16 * 12, -0.1, 0.1), [16, 12]));
    class Scaled extends DenseCoupling {}
    const vf = withTerms(net, [new VfDenseCoupling(1, 2, w(), w(), {}, 'V1_2', 'B1_2') as never]); // (a field term: withTerms is typed for energy terms)
    const sub = withTerms(net, [new Scaled(1, 2, w(), 'S1_2')]);
    const fp = new FusedFixedPoint(new FixedPoint('synchronous'), 'fused');
    for (const [n, name] of [
      [vf, 'V1_2'],
      [sub, 'S1_2'],
    ] as const) {
      const opt = new FusedOptimizer({ kind: 'sgd', lrs: [0.1] }, n.params, () => 0.1);
      expect(FusedEpStep.unfusedReason(n, fp, opt)).toBe(`term ${name} is neither a dense coupling nor a bias`);
      expect(() => new FusedEpStep(n, fp, opt)).toThrow(/neither a dense coupling nor a bias/);
      opt.dispose();
    }
  });

  it('refuses a network with dropout (each training batch draws masks), which FusedFixedPoint still relaxes unmasked', () => {
    const net = layeredMlp(
      { kind: 'mlp', sizes: [8, 12, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', dropout: [0.2, 0.5, 0] },
      new Rng(1),
    );
    expect(FusedEpStep.unfusedReason(net)).toBe("dropout: each training batch's masks are applied by tfjs ops");
    const bound = net.bind(tf.zeros([2, 8]));
    expect(new FusedFixedPoint(new FixedPoint('synchronous'), 'fused').unfusedReason(bound)).toBeUndefined();
    bound.dispose();
  });
});
