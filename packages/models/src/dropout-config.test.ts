import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { DenseCoupling } from '@eqprop/energies';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from './registry.js';
import { withTerms } from './with-terms.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

describe('model.dropout', () => {
  it('is one rate per layer of the energy, the input first (a CE readout’s class count excluded), for the mlp and the convnet', () => {
    const mlp = buildModel({ kind: 'mlp', sizes: [6, 5, 4, 3], activation: 'sigmoid', form: 'primitive', cost: 'ce', dropout: [0.1, 0.5, 0.2] }, new Rng(1));
    expect(mlp.dropout).toEqual([0.1, 0.5, 0.2]);
    const conv = buildModel(
      {
        kind: 'conv',
        inputShape: [6, 6, 1],
        channels: [2],
        kernels: [3],
        pools: ['none'],
        dense: [4, 3],
        activation: 'hard-sigmoid',
        cost: 'ce',
        dropout: [0, 0.1, 0.3],
      },
      new Rng(1),
    );
    expect(conv.dropout).toEqual([0, 0.1, 0.3]);
    // the same parameters draw the same weights with or without dropout (it takes nothing from the model's Rng)
    const plain = buildModel({ kind: 'mlp', sizes: [6, 5, 4, 3], activation: 'sigmoid', form: 'primitive', cost: 'ce' }, new Rng(1));
    expect(plain.dropout).toBeUndefined();
    expect(mlp.params.W0_1.dataSync()).toEqual(plain.params.W0_1.dataSync());
    // withTerms keeps it
    const more = withTerms(mlp, [new DenseCoupling(0, 2, tf.variable(tf.zeros([6, 4])), 'skip')]);
    expect(more.dropout).toEqual([0.1, 0.5, 0.2]);
  });

  it('says what is wrong in one line', () => {
    const mlp = (dropout: number[], cost: 'ce' | 'mse' = 'ce') =>
      buildModel({ kind: 'mlp', sizes: [6, 5, 3], activation: 'sigmoid', form: 'primitive', cost, dropout }, new Rng(1));
    expect(() => mlp([0.1, 0.2, 0])).toThrow(
      new ConfigError('dropout must list one drop probability per layer, the input first (2 for layers 0 … 1), got [0.1,0.2,0]'),
    );
    expect(() => mlp([0, -0.1])).toThrow(new ConfigError('dropout of layer 1 must be a probability in [0, 1), got -0.1'));
    expect(() => mlp([0.2, 0, 0.3], 'mse')).toThrow(/^dropout of the output layer 2 must be 0 with the mse cost/);
    expect(mlp([0.2, 0, 0], 'mse').dropout).toEqual([0.2, 0, 0]);
  });
});
