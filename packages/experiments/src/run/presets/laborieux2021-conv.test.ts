import { Rng, setupBackend } from '@eqprop/core';
import { parameterGroups } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../config.js';
import { getPreset } from './index.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

// The hyperparameters themselves are checked against the papers in papers.test.ts.
describe('convolutional presets', () => {
  it.each([
    ['ernoult2019-conv', [[12, 12, 32], [4, 4, 64], [10]], 'one-sided'],
    [
      'laborieux2021-mnist',
      [
        [12, 12, 32],
        [4, 4, 64],
      ],
      'symmetric',
    ],
    [
      'laborieux2021-cifar10',
      [
        [16, 16, 128],
        [8, 8, 256],
        [4, 4, 512],
        [1, 1, 512],
      ],
      'symmetric',
    ],
  ])('%s validates, builds, and has one learning rate per layer (input to output)', (name, shapes, estimator) => {
    const config = validateConfig(getPreset(name));
    expect(config.trainer.estimator).toBe(estimator);
    const net = buildModel(config.model as ModelConfig, new Rng(1));
    expect(net.layerShapes).toEqual(shapes);
    const groups = Math.max(...Object.values(parameterGroups(net)));
    expect(config.trainer.optimizer.lrs.length).toBe(groups);
    Object.values(net.params).forEach((v) => v.dispose());
  });
});
