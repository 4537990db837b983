import { ConfigError, type Grads, type Params, Rng, setupBackend, tf } from '@eqprop/core';
import { DenseCoupling } from '@eqprop/energies';
import { buildModel, withTerms } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { Optimizer } from './optimizers.js';
import { parameterGroups, Trainer, type TrainerConfig } from './trainer.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const mlp = () => buildModel({ kind: 'mlp', sizes: [4, 5, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(1));
/** The model with a skip coupling from the input to layer 2: a parameter in no group. */
const withSkip = () => withTerms(mlp(), [new DenseCoupling(0, 2, tf.variable(tf.zeros([4, 3])), 'S0_2')]);
const trainer = (optimizer: TrainerConfig['optimizer'], net = withSkip()) =>
  new Trainer(
    net,
    { solver: { kind: 'gradient-descent', stepSize: 0.5 }, freeSteps: 5, nudgedSteps: 2, estimator: 'symmetric', beta: 0.5, optimizer, persistent: false },
    { seed: 1 },
  );

/** One SGD step with gradient 1 everywhere: each parameter moves by −(its rate). */
function stepOf(params: Params, opt: Optimizer): Record<string, number> {
  const before = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.dataSync()[0]]));
  const grads: Grads = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.onesLike(v)]));
  opt.step(grads);
  tf.dispose(Object.values(grads));
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Math.fround(before[k] - v.dataSync()[0])]));
}

describe('learning-rate groups per parameter', () => {
  it('a parameter in no group: refused with one line under per-layer rates, accepted with its rate in lrByParam or under a single rate', () => {
    expect(parameterGroups(withSkip())).toEqual({ W0_1: 1, b1: 1, W1_2: 2, b2: 2 });
    expect(() => trainer({ kind: 'sgd', lrs: [0.1, 0.05] })).toThrow(ConfigError);
    expect(() => trainer({ kind: 'sgd', lrs: [0.1, 0.05] })).toThrow(
      /^parameter S0_2 is in no learning-rate group of the 2 per-layer rates: give its rate in optimizer.lrByParam \(\{ S0_2: … \}\) or a single rate for all$/,
    );
    expect(() => trainer({ kind: 'sgd', lrs: [0.1] }).dispose()).not.toThrow();
    const t = trainer({ kind: 'sgd', lrs: [0.5, 0.25], lrByParam: { S0_2: 0.125 } });
    const moved = stepOf(t.net.params, t.optimizer);
    // rates that are powers of two: the step is exact in float32 wherever the parameter is
    expect(moved.W0_1).toBeCloseTo(0.5, 6);
    expect(moved.W1_2).toBeCloseTo(0.25, 6);
    expect(moved.S0_2).toBe(0.125);
    t.dispose();
  });

  it('lrByParam overrides a grouped parameter and is checked: unknown names and bad rates are one line', () => {
    const net = mlp();
    const opt = new Optimizer({ kind: 'sgd', lrs: [0.5, 0.25], lrByParam: { b2: 0 } }, net.params, parameterGroups(net));
    expect(opt.lrOf('b2')).toBe(0);
    expect(opt.lrOf('W1_2', 2)).toBe(0.5);
    expect(stepOf(net.params, opt).b2).toBe(0); // frozen
    expect(() => new Optimizer({ kind: 'sgd', lrs: [0.1], lrByParam: { W9: 0.1 } }, net.params, parameterGroups(net))).toThrow(
      /^lrByParam names "W9", which is not a parameter: the parameters are W0_1, b1, W1_2, b2$/,
    );
    expect(() => new Optimizer({ kind: 'sgd', lrs: [0.1], lrByParam: { b1: -1 } }, net.params, parameterGroups(net))).toThrow(
      /^the learning rate of b1 \(lrByParam\) must be ≥ 0, got -1$/,
    );
  });

  it("without lrByParam the rates are the per-layer ones, and lrByParam with the same rates trains to the same bits (the presets' path is unchanged)", () => {
    const x = tf.randomUniform([6, 4], 0, 1, 'float32', 3);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3).toFloat() as tf.Tensor2D;
    const batch = { x, y, labels: new Int32Array([0, 1, 2, 0, 1, 2]), indices: new Int32Array([0, 1, 2, 3, 4, 5]) };
    const run = (optimizer: TrainerConfig['optimizer']) => {
      const t = trainer(optimizer, mlp());
      for (let i = 0; i < 5; i++) t.trainBatch(batch);
      const values = Object.values(t.net.params).map((v) => Array.from(v.dataSync()));
      t.dispose();
      return values;
    };
    const plain = run({ kind: 'adam', lrs: [0.01, 0.005] });
    expect(run({ kind: 'adam', lrs: [0.01, 0.005], lrByParam: { W0_1: 0.01, b1: 0.01, W1_2: 0.005, b2: 0.005 } })).toEqual(plain);
    expect(run({ kind: 'adam', lrs: [0.01, 0.005], lrByParam: { b2: 0.004 } })).not.toEqual(plain);
  });
});
