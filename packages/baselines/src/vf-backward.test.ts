import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { bptt } from './bptt.js';
import { fieldParamVjp } from './field-vjp.js';
import { recurrentBackprop } from './recurrent-backprop.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

// Their backward passes transpose the field's Jacobian as the Hessian of one Φ: a vector-field
// network's is not symmetric, so they refuse it instead of returning a wrong gradient.
describe('BPTT and recurrent backprop refuse a vector-field network in one line', () => {
  it('before any work, naming the term', () => {
    const config = { kind: 'vf-mlp', sizes: [6, 5, 4, 3], activation: 'ernoult-sigmoid', cost: 'mse' } as ModelConfig;
    const net = buildModel(config, new Rng(1));
    const bound = net.bind(tf.ones([2, 6]));
    const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3).cast('float32');
    const init = net.zeroState(2);
    const before = tf.memory().numTensors;
    const message =
      /^the backward pass of BPTT and recurrent backprop \(it transposes the field's Jacobian as the Hessian of one Φ\): this network has no energy \(term W1_2 is a vector field/;
    const solver = new FixedPoint('synchronous');
    expect(() => bptt(bound, y, init, { solver, freeSteps: 4, truncation: 2 })).toThrow(ConfigError);
    expect(() => bptt(bound, y, init, { solver, freeSteps: 4, truncation: 2 })).toThrow(message);
    expect(() => recurrentBackprop(bound, y, init, { solver, freeSteps: 4 })).toThrow(message);
    expect(() => fieldParamVjp(bound, init, init)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    bound.dispose();
  });
});
