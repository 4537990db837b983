import { ConfigError, Rng, ShapeError, setupBackend, type tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConvnetConfig, convnet } from './convnet.js';
import { buildModel } from './registry.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const ernoult: ConvnetConfig = {
  kind: 'conv',
  inputShape: [28, 28, 1],
  channels: [32, 64],
  kernels: [5],
  pools: ['max'],
  dense: [10],
  activation: 'hard-sigmoid',
  cost: 'mse',
};

const disposeNet = (params: Record<string, tf.Variable>) => Object.values(params).forEach((v) => v.dispose());

describe('convnet', () => {
  it('Ernoult et al. 2019: 28×28×1 → 12×12×32 → 4×4×64 → 10, registered as kind "conv"', () => {
    const net = buildModel(ernoult as unknown as { kind: string }, new Rng(1));
    expect(net.layerShapes).toEqual([[12, 12, 32], [4, 4, 64], [10]]);
    expect(net.form).toBe('primitive');
    const shapes = Object.fromEntries(Object.entries(net.params).map(([k, v]) => [k, v.shape]));
    expect(shapes).toEqual({ K0_1: [5, 5, 1, 32], b1: [32], K1_2: [5, 5, 32, 64], b2: [64], W2_3: [1024, 10], b3: [10] });
    // PyTorch's default init: U(±1/√fan_in), fan_in = 5·5·32 for the second kernel
    const max = net.params.K1_2.abs().max().dataSync()[0];
    expect(max).toBeLessThanOrEqual(1 / Math.sqrt(800));
    expect(max).toBeGreaterThan(0.9 / Math.sqrt(800));
    disposeNet(net.params);
  });

  it('with a CE readout the last dense size is the readout: Laborieux et al. 2021 CIFAR-10', () => {
    const net = convnet(
      {
        kind: 'conv',
        inputShape: [32, 32, 3],
        channels: [128, 256, 512, 512],
        kernels: [3],
        paddings: [1, 1, 1, 0],
        dense: [10],
        activation: 'half-clip',
        cost: 'ce',
      },
      new Rng(2),
    );
    expect(net.layerShapes).toEqual([
      [16, 16, 128],
      [8, 8, 256],
      [4, 4, 512],
      [1, 1, 512],
    ]);
    expect(net.params.Wout.shape).toEqual([512, 10]);
    expect(net.cost.name).toBe('ce-readout');
    expect(net.activations.every((a) => a.name === 'half-clip')).toBe(true);
    disposeNet(net.params);
  });

  it('dense hidden layers, avg and no pooling, strides', () => {
    const net = convnet(
      {
        kind: 'conv',
        inputShape: [9, 9, 2],
        channels: [4, 3],
        kernels: [3],
        strides: [2, 1],
        pools: ['none', 'avg'],
        dense: [7, 5],
        activation: 'sigmoid',
        cost: 'mse',
        form: 'hopfield',
        init: 'glorot',
      },
      new Rng(3),
    );
    expect(net.layerShapes).toEqual([[4, 4, 4], [1, 1, 3], [7], [5]]);
    expect(Object.keys(net.params)).toEqual(['K0_1', 'b1', 'K1_2', 'b2', 'W2_3', 'b3', 'W3_4', 'b4']);
    disposeNet(net.params);
  });

  it('bad configs are one-line errors naming the value', () => {
    const bad = (over: Partial<ConvnetConfig>) => () => convnet({ ...ernoult, ...over }, new Rng(0));
    expect(bad({ kernels: [29] })).toThrow(ShapeError);
    expect(bad({ kernels: [29] })).toThrow(/K0_1: kernel 29×29 is larger than its input 28×28/);
    expect(bad({ kernels: [3] })).toThrow(/K1_2: max-pooling of size 2 does not divide the 11×11 output of the convolution/);
    expect(bad({ kernels: [5, 5, 5] })).toThrow(/convnet kernels: give one value or one per conv layer \(2\)/);
    expect(bad({ pools: ['min' as 'max'] })).toThrow(/convnet pools: "min" is not one of max, avg, none/);
    expect(bad({ inputShape: [784] })).toThrow(ConfigError);
    expect(bad({ dense: [] })).toThrow(/convnet dense must list at least the class count/);
    expect(bad({ paddings: [-1] })).toThrow(/convnet paddings: -1 is not an integer ≥ 0/);
  });
});
