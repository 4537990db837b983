import { ConfigError, type Grads, Rng, setupBackend, tf } from '@eqprop/core';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint, GradientDescent, type RelaxOptions } from '@eqprop/solvers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EpEstimate, type EpPhaseOptions, FusedEpStep } from './fused-ep-step.js';
import { FusedGradientDescent } from './fused-gradient-descent.js';
import { FusedOptimizer } from './fused-optimizer.js';
import { KernelTeam } from './kernel-team.js';
import { relGap } from './test-utils.js';
import { withKernels } from './with-kernels.js';

let pair: KernelTeam;
beforeAll(async () => {
  await setupBackend('wasm');
  pair = await KernelTeam.start({ threads: 2 });
});
afterAll(() => pair.dispose());

/** A hopfield MLP with hard-sigmoid units (scellier2017's model, small), weights doubled so that states saturate too. */
function setup(sizes: number[], batch: number, seed: number, activation = 'hard-sigmoid') {
  const net = layeredMlp({ kind: 'mlp', sizes, activation, form: 'hopfield', cost: 'mse', costWeight: 1, init: 'glorot' }, new Rng(seed));
  for (const p of Object.values(net.params)) p.assign(tf.mul(p, 2));
  const x = tf.randomUniform([batch, sizes[0]], 0, 1, 'float32', seed);
  const out = sizes[sizes.length - 1];
  const y = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % out),
        'int32',
      ),
      out,
    )
    .toFloat();
  // persistent particles: a start inside [0, 1] (the states GradientDescent leaves)
  const init = net.layerShapes.map((s, i) => tf.randomUniform([batch, ...s], 0, 1, 'float32', seed + i + 1));
  return { net, x, y, init };
}

const gd = new GradientDescent(0.5);
const NETS: [string, number[], number][] = [
  ['784-32-10', [784, 32, 10], 7],
  ['20-16-12-6 (two hidden layers)', [20, 16, 12, 6], 9],
];

describe('FusedGradientDescent gives the states of GradientDescent after each phase, on one thread and on two alike', () => {
  for (const [name, sizes, batch] of NETS) {
    it(`${name}: free phase from persistent particles, then nudged with β of either sign`, () => {
      const { net, x, y, init } = setup(sizes, batch, 3);
      const bound = net.bind(x);
      const solvers = [new FusedGradientDescent(gd, 'fused'), new FusedGradientDescent(gd, 'fused', pair)];
      expect(solvers[0].unfusedReason(bound)).toBeUndefined();
      const phases: RelaxOptions[] = [{ maxSteps: 20 }, { maxSteps: 4, nudge: { beta: 0.5, y } }, { maxSteps: 4, nudge: { beta: -0.5, y } }];
      const free = gd.relax(bound, init, phases[0]);
      for (const opts of phases) {
        const start = opts.nudge ? free.state : init;
        const want = gd.relax(bound, start, opts);
        const [one, two] = solvers.map((s) => s.relax(bound, start, opts));
        expect(one.steps).toBe(want.steps);
        one.state.forEach((s, i) => expect(relGap(s.dataSync(), want.state[i].dataSync())).toBeLessThan(1e-5));
        expect(Math.abs(one.residual - want.residual)).toBeLessThan(1e-5);
        two.state.forEach((s, i) => expect(Array.from(s.dataSync())).toEqual(Array.from(one.state[i].dataSync())));
        // the phase moved the state (clipped at both ends somewhere): the comparison is of something
        expect(relGap(want.state[0].dataSync(), start[0].dataSync())).toBeGreaterThan(1e-2);
        tf.dispose([...want.state, ...one.state, ...two.state]);
      }
      tf.dispose([...free.state, ...init, x, y, ...Object.values(net.params)]);
      bound.dispose();
    });
  }

  it('a batch tolerance and a per-example one stop where GradientDescent stops', () => {
    const { net, x, y, init } = setup([20, 16, 12, 6], 9, 4);
    const bound = net.bind(x);
    for (const opts of [
      { maxSteps: 200, tol: 1e-4 },
      { maxSteps: 200, tol: 1e-4, perExample: true, nudge: { beta: 0.5, y } },
    ] as RelaxOptions[]) {
      const want = gd.relax(bound, init, opts);
      const got = new FusedGradientDescent(gd, 'fused', pair).relax(bound, init, opts);
      expect([got.steps, got.meanSteps, got.converged]).toEqual([want.steps, want.meanSteps, want.converged]);
      got.state.forEach((s, i) => expect(relGap(s.dataSync(), want.state[i].dataSync())).toBeLessThan(1e-5));
      tf.dispose([...want.state, ...got.state]);
    }
    tf.dispose([...init, x, y, ...Object.values(net.params)]);
    bound.dispose();
  });
});

/** GradientDescent's phases and BoundNetwork.paramGradsDiff, as the estimators run them. */
function reference(
  net: ReturnType<typeof setup>['net'],
  x: tf.Tensor,
  y: tf.Tensor,
  init: tf.Tensor[],
  est: EpEstimate,
  free: EpPhaseOptions,
  nudged: EpPhaseOptions,
) {
  const bound = net.bind(x);
  const f = gd.relax(bound, init, free as RelaxOptions);
  const a = gd.relax(bound, f.state, { ...nudged, nudge: { beta: est.beta, y } });
  const b = est.kind === 'symmetric' ? gd.relax(bound, f.state, { ...nudged, nudge: { beta: -est.beta, y } }) : f;
  const grads: Grads =
    est.kind === 'symmetric' ? bound.paramGradsDiff(a.state, b.state, 1 / (2 * est.beta), f.state) : bound.paramGradsDiff(a.state, f.state, 1 / est.beta);
  const values = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice()]));
  const state = f.state.map((s) => s.dataSync().slice());
  tf.dispose([...Object.values(grads), ...a.state, ...f.state, ...(b === f ? [] : b.state)]);
  bound.dispose();
  return { grads: values, state, steps: f.steps };
}

describe('FusedEpStep with FusedGradientDescent: the EP gradients of the op-by-op path, on one thread and on two alike', () => {
  const estimates: [string, EpEstimate][] = [
    ['random-sign (β < 0)', { kind: 'one-sided', beta: -0.5 }],
    ['symmetric', { kind: 'symmetric', beta: 0.5 }],
  ];
  for (const [netName, sizes, batch] of NETS) {
    for (const [estName, est] of estimates) {
      it(`${netName}, ${estName}, persistent particles`, () => {
        const { net, x, y, init } = setup(sizes, batch, 5);
        const free = { maxSteps: 20 };
        const nudged = { maxSteps: 4 };
        const want = reference(net, x, y, init, est, free, nudged);
        const start = init.map((s) => s.dataSync().slice() as Float32Array);
        const results = [KernelTeam.single(), pair].map((team) => {
          const optimizer = new FusedOptimizer({ kind: 'sgd', lrs: [0.1] }, net.params, () => 0.1, team);
          const solver = new FusedGradientDescent(gd, 'fused', team);
          expect(FusedEpStep.unfusedReason(net, solver, optimizer)).toBeUndefined();
          const step = new FusedEpStep(net, solver, optimizer);
          const r = step.run(x, y, est, free, nudged, start);
          const grads = Object.fromEntries(Object.keys(net.params).map((k) => [k, team.K.view(optimizer.slot(k).g, optimizer.slot(k).size).slice()]));
          step.dispose();
          optimizer.dispose();
          return { r, grads };
        });
        const [one, two] = results;
        expect(one.r.free.steps).toBe(want.steps);
        one.r.freeState.forEach((s, i) => expect(relGap(s, want.state[i])).toBeLessThan(1e-5));
        for (const k of Object.keys(want.grads)) expect(relGap(one.grads[k], want.grads[k])).toBeLessThan(1e-4);
        expect(Math.max(...Object.values(want.grads).map((g) => Math.max(...Array.from(g, Math.abs))))).toBeGreaterThan(1e-3);
        expect(two.r.freeState.map((s) => Array.from(s))).toEqual(one.r.freeState.map((s) => Array.from(s)));
        for (const k of Object.keys(one.grads)) expect(Array.from(two.grads[k])).toEqual(Array.from(one.grads[k]));
        tf.dispose([x, y, ...init, ...Object.values(net.params)]);
      });
    }
  }
});

describe('FusedGradientDescent falls back to GradientDescent where it does not apply', () => {
  it('withKernels gives gradient descent the fused path; an activation other than clip(s, 0, 1): auto hands it to GradientDescent, fused refuses in one line', () => {
    expect(withKernels(gd, 'auto')).toBeInstanceOf(FusedGradientDescent);
    const { net, x, init } = setup([8, 12, 4], 3, 1, 'ernoult-sigmoid');
    const bound = net.bind(x);
    const auto = new FusedGradientDescent(gd, 'auto');
    expect(auto.unfusedReason(bound)).toBe('a hopfield network whose activation is not the identity on its range');
    const a = auto.relax(bound, init, { maxSteps: 5 });
    const b = gd.relax(bound, init, { maxSteps: 5 });
    a.state.forEach((s, i) => expect(Array.from(s.dataSync())).toEqual(Array.from(b.state[i].dataSync())));
    const fused = new FusedGradientDescent(gd, 'fused');
    expect(() => fused.relax(bound, init, { maxSteps: 5 })).toThrow(ConfigError);
    expect(() => fused.relax(bound, init, { maxSteps: 5 })).toThrow(
      /^the fused kernels cannot relax this network: a hopfield network whose activation is not the identity on its range \(kernels "auto" falls back to tfjs ops\)$/,
    );
    expect(FusedEpStep.unfusedReason(net, fused)).toBe('a hopfield network whose activation is not the identity on its range');
    tf.dispose([...a.state, ...b.state, ...init, x, ...Object.values(net.params)]);
    bound.dispose();
  });

  it('a primitive network, a clamped layer or a trace go to GradientDescent (auto), which decides', () => {
    const prim = layeredMlp({ kind: 'mlp', sizes: [8, 12, 4], activation: 'hard-sigmoid', form: 'primitive', cost: 'mse', init: 'glorot' }, new Rng(1));
    const fused = new FusedGradientDescent(gd, 'fused');
    expect(fused.solverReason(prim)).toBe('gradient descent relaxes a network of the hopfield form, not "primitive"');
    expect(FusedEpStep.unfusedReason(prim, fused)).toBe('gradient descent relaxes a network of the hopfield form, not "primitive"');
    const { net, x, init } = setup([8, 12, 4], 3, 1);
    const bound = net.bind(x);
    const clamp = { layer: 2, value: init[1] };
    expect(fused.unfusedReason(bound, { maxSteps: 3, clamp })).toBe('a clamped layer is held by tfjs ops');
    const a = new FusedGradientDescent(gd, 'auto').relax(bound, init, { maxSteps: 3, clamp, trace: true });
    expect(a.trace).toHaveLength(4);
    // a fixed-point solver is not a gradient-descent one: FusedFixedPoint's relaxation differs (clip before the interpolation)
    const fp = new FixedPoint('synchronous', { stepSize: 0.5 }).relax(bound, init, { maxSteps: 3 });
    const g = fused.relax(bound, init, { maxSteps: 3 });
    expect(relGap(g.state[0].dataSync(), fp.state[0].dataSync())).toBeGreaterThan(1e-3);
    tf.dispose([...a.state, ...fp.state, ...g.state, ...init, x, ...Object.values(net.params), ...Object.values(prim.params)]);
    bound.dispose();
  });
});
