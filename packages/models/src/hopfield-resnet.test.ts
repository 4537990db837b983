import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { checkTerm, type Term } from '@eqprop/energies';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convnet } from './convnet.js';
import { type HopfieldResnetConfig, hopfieldResnet } from './hopfield-resnet.js';
import { buildModel } from './registry.js';

beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  await setupBackend('wasm');
});

const disposeNet = (params: Record<string, tf.Variable>) => Object.values(params).forEach((v) => v.dispose());

const resnet13: HopfieldResnetConfig = {
  kind: 'resnet',
  inputShape: [32, 32, 3],
  channels: [128, 256, 512, 512],
  classes: 10,
  activation: 'relu6',
  cost: 'mse',
  gains: { conv: 0.6, skip: 0.7, dense: 0.8, bias: 0.5 },
};

const tiny: HopfieldResnetConfig = { kind: 'resnet', inputShape: [8, 8, 2], channels: [3, 4], classes: 3, activation: 'relu6', cost: 'mse' };

describe('Hopfield-ResNet', () => {
  it('Hopfield-ResNet13 (arXiv 2509.26003): the reference code’s 9 states, 13 weight tensors, skips i → i + 2, registered as kind "resnet"', () => {
    const net = buildModel(resnet13 as unknown as { kind: string }, new Rng(1));
    // ConvHopfieldResEnergy32's layer_shapes (C, H, W there; H, W, C here)
    expect(net.layerShapes).toEqual([[32, 32, 128], [16, 16, 128], [16, 16, 256], [8, 8, 256], [8, 8, 512], [4, 4, 512], [4, 4, 512], [2, 2, 512], [10]]);
    const weights = Object.entries(net.params).filter(([n]) => !n.startsWith('b'));
    // its edges: (0,1) (1,2) (0,2) | (2,3) (2,4) (3,4) | (4,5) (4,6) (5,6) | (6,7) (6,8) (7,8) | (8,9)
    expect(weights.map(([n, v]) => [n, v.shape])).toEqual([
      ['K0_1', [3, 3, 3, 128]],
      ['K1_2', [3, 3, 128, 128]],
      ['S0_2', [1, 1, 3, 128]],
      ['K2_3', [3, 3, 128, 256]],
      ['K3_4', [3, 3, 256, 256]],
      ['S2_4', [1, 1, 128, 256]],
      ['K4_5', [3, 3, 256, 512]],
      ['K5_6', [3, 3, 512, 512]],
      ['S4_6', [1, 1, 256, 512]],
      ['K6_7', [3, 3, 512, 512]],
      ['K7_8', [3, 3, 512, 512]],
      ['S6_8', [1, 1, 512, 512]],
      ['W8_9', [2048, 10]],
    ]);
    expect(Object.keys(net.params).filter((n) => n.startsWith('b'))).toEqual(['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9']);
    expect(net.activations.map((a) => a.name)).toEqual([...Array(8).fill('relu6'), 'linear']);
    expect(net.cost.name).toBe('mse');
    // ConvWeight / DenseWeight 'kaiming_uniform': U(±gain/√fan_in); Bias: U(±0.5/√(9·channels below))
    const bound = (name: string, b: number) => {
      const max = net.params[name].abs().max().dataSync()[0];
      expect(max, name).toBeLessThanOrEqual(b * (1 + 1e-6));
      expect(max, name).toBeGreaterThan(0.9 * b);
    };
    bound('K1_2', 0.6 / Math.sqrt(9 * 128));
    bound('S2_4', 0.7 / Math.sqrt(128));
    bound('W8_9', 0.8 / Math.sqrt(2048));
    bound('b1', 0.5 / Math.sqrt(9 * 3));
    bound('b4', 0.5 / Math.sqrt(9 * 256));
    bound('b9', 0.5 / Math.sqrt(9 * 512));
    // one learning-rate group per layer: a skip learns with the layer it feeds
    expect([net.groups.S0_2, net.groups.S6_8, net.groups.K7_8, net.groups.W8_9]).toEqual([2, 8, 8, 9]);
    disposeNet(net.params);
  });

  it('its energy is the sum it is meant to be: convolutions of stride 1 and 2, skips as 1×1 stride-2 convolutions, biases, the head', () => {
    const net = hopfieldResnet(tiny, new Rng(3));
    expect(net.layerShapes).toEqual([[8, 8, 3], [4, 4, 3], [4, 4, 4], [2, 2, 4], [3]]);
    const rng = new Rng(4);
    const x = tf.tensor(rng.uniformArray(2 * 128, 0, 1), [2, 8, 8, 2]);
    const s = net.layerShapes.map((shape) => tf.tensor(rng.uniformArray(2 * shape.reduce((a, b) => a * b, 1), 0, 1), [2, ...shape]));
    tf.tidy(() => {
      const p = net.params as Record<string, tf.Tensor4D>;
      const a = [x, ...s] as tf.Tensor4D[];
      const dot = (u: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(u, v), [1, 2, 3]);
      const conv = (lo: number, up: number, stride: number) => dot(tf.conv2d(a[lo], p[`K${lo}_${up}`], stride, 1), a[up]);
      const skip = (lo: number, up: number) => dot(tf.conv2d(a[lo], p[`S${lo}_${up}`], 2, 'valid'), a[up]);
      const bias = (k: number) => tf.sum(tf.mul(tf.reshape(a[k], [2, -1, p[`b${k}`].shape[0]]), p[`b${k}`]), [1, 2]);
      const head = tf.add(tf.sum(tf.mul(tf.matMul(tf.reshape(a[4], [2, -1]), p.W4_5 as unknown as tf.Tensor2D), a[5]), 1), tf.sum(tf.mul(a[5], p.b5), 1));
      const phi = [conv(0, 1, 1), conv(1, 2, 2), skip(0, 2), conv(2, 3, 1), conv(3, 4, 2), skip(2, 4), bias(1), bias(2), bias(3), bias(4), head].reduce(
        (u, v) => tf.add(u, v),
      );
      const self = s.map((t) => tf.sum(tf.reshape(tf.mul(0.5, tf.square(t)), [2, -1]), 1)).reduce((u, v) => tf.add(u, v)); // G(s) = ½s² of relu6 and linear
      const energy = net.energy(x, s);
      const want = tf.sub(self, phi);
      expect(tf.max(tf.abs(tf.sub(energy, want))).dataSync()[0] / tf.max(tf.abs(want)).dataSync()[0]).toBeLessThan(1e-5);
    });
    [x, ...s].forEach((t) => t.dispose());
    disposeNet(net.params);
  });

  it('every term of a small ResNet passes checkTerm (cpu: tf.grad of a kernel needs Conv2DBackpropFilter)', async () => {
    await setupBackend('cpu');
    const net = hopfieldResnet({ ...tiny, inputShape: [7, 7, 2] }, new Rng(5)); // odd sides: ⌈7/2⌉ from both the conv and the skip
    expect(net.layerShapes).toEqual([[7, 7, 3], [4, 4, 3], [4, 4, 4], [2, 2, 4], [3]]);
    // the convolutions (stride 1 and 2), the skips, the biases and the dense head on a conv layer
    const checked = net.terms.filter((t): t is Term => 'energy' in t);
    expect(checked.map((t) => t.name).sort()).toEqual(['K0_1', 'b1', 'K1_2', 'b2', 'S0_2', 'K2_3', 'b3', 'K3_4', 'b4', 'S2_4', 'b5', 'W4_5'].sort());
    for (const term of checked) expect(checkTerm(term, net).ok, term.name).toBe(true);
    disposeNet(net.params);
    await setupBackend('wasm');
  });

  it('with cost "ce" the head is a readout outside the energy: no output layer', () => {
    const net = hopfieldResnet({ ...tiny, cost: 'ce', activation: 'hard-sigmoid' }, new Rng(6));
    expect(net.layerShapes).toEqual([
      [8, 8, 3],
      [4, 4, 3],
      [4, 4, 4],
      [2, 2, 4],
    ]);
    expect(net.params.Wout.shape).toEqual([16, 3]);
    expect(net.activations.every((a) => a.name === 'hard-sigmoid')).toBe(true);
    disposeNet(net.params);
  });

  it('a malformed config is a one-line ConfigError naming the field and the value', () => {
    const bad = (over: Record<string, unknown>) => () => hopfieldResnet({ ...tiny, ...over } as HopfieldResnetConfig, new Rng(1));
    expect(bad({ kernel: 4 })).toThrow(/resnet kernel must be an odd positive integer \(padded by \(k − 1\)\/2\), got 4/);
    expect(bad({ channels: [] })).toThrow(/resnet channels must list at least one block's channels \(positive integers\), got \[\]/);
    expect(bad({ inputShape: [8, 8] })).toThrow(/resnet inputShape must be \[height, width, channels\] of positive integers, got \[8,8\]/);
    expect(bad({ classes: 0 })).toThrow(/resnet classes must be a positive integer, got 0/);
    expect(bad({ cost: 'hinge' })).toThrow(/resnet cost must be "mse" or "ce", got "hinge"/);
    expect(bad({ activation: 'relu' })).toThrow(
      /resnet activation "relu" is unknown: expected one of hard-sigmoid, sigmoid, ernoult-sigmoid, half-clip, relu6$/,
    );
    expect(bad({ gains: { conv: -1 } })).toThrow(/resnet gains.conv must be a positive number, got -1/);
    expect(bad({ gains: { skp: 1 } })).toThrow(/resnet gains: unknown field "skp", expected conv, skip, dense or bias/);
    expect(bad({ gains: 0.5 })).toThrow(ConfigError);
    expect(bad({ form: 'energy' })).toThrow(/resnet form must be "primitive" or "hopfield", got "energy"/);
  });
});

describe('softmax pooling in a convnet config', () => {
  it('pools: ["softmax"] builds a conv layer with softmax pooling (the energy-based-learning conv_soft_pool)', () => {
    const net = convnet(
      {
        kind: 'conv',
        inputShape: [8, 8, 1],
        channels: [2],
        kernels: [3],
        paddings: [1],
        pools: ['softmax'],
        dense: [3],
        activation: 'hard-sigmoid',
        cost: 'mse',
      },
      new Rng(7),
    );
    expect(net.layerShapes).toEqual([[4, 4, 2], [3]]);
    expect((net.terms[0] as unknown as { pool: { kind: string; size: number } }).pool).toEqual({ kind: 'softmax', size: 2 });
    disposeNet(net.params);
  });
});
