import { ConfigError, Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { layeredMlp } from './mlp.js';
import { deserializeParams, loadParams, paramsToArrays, saveParams, setParamsFromArrays } from './params-io.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const mlp = () => layeredMlp({ kind: 'mlp', sizes: [4, 5, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(1));

describe('parameters to and from plain arrays by name', () => {
  it('round-trips: arrays of a model set into another make it equal, bit for bit', () => {
    const [a, b] = [mlp(), layeredMlp({ kind: 'mlp', sizes: [4, 5, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(9))];
    const arrays = paramsToArrays(a);
    expect(arrays.W0_1).toHaveLength(20);
    expect(Array.from(b.params.W0_1.dataSync())).not.toEqual(arrays.W0_1);
    setParamsFromArrays(b, arrays);
    for (const name of Object.keys(a.params)) expect(b.params[name].dataSync()).toEqual(a.params[name].dataSync());
    // some by name, a Float32Array or numbers, from the params record too
    setParamsFromArrays(b.params, { b2: new Float32Array([1, 2, 3]) });
    expect(Array.from(b.params.b2.dataSync())).toEqual([1, 2, 3]);
    expect(paramsToArrays(b.params).b2).toEqual([1, 2, 3]);
  });

  it('a wrong name, a wrong size or a non-finite value: one line, and nothing written', () => {
    const net = mlp();
    const before = paramsToArrays(net);
    const tensors = tf.memory().numTensors;
    expect(() => setParamsFromArrays(net, { b1: [0, 0, 0, 0, 0], W9: [1] })).toThrow(ConfigError);
    expect(() => setParamsFromArrays(net, { b1: [0, 0, 0, 0, 0], W9: [1] })).toThrow(/^no parameter named "W9": the parameters are W0_1, b1, W1_2, b2$/);
    expect(() => setParamsFromArrays(net, { b1: [0, 0, 0, 0, 0], b2: [1, 2] })).toThrow(ShapeError);
    expect(() => setParamsFromArrays(net, { b2: [1, 2] })).toThrow(/^b2 of shape \[3\] takes 3 values, got 2$/);
    expect(() => setParamsFromArrays(net, { b2: [1, Number.NaN, 2] })).toThrow(/^b2\[1\] is NaN, expected a finite number$/);
    expect(paramsToArrays(net)).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('saveParams / loadParams: plain JSON, checked before anything is written', () => {
    const [a, b] = [mlp(), layeredMlp({ kind: 'mlp', sizes: [4, 5, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(9))];
    const saved = JSON.parse(JSON.stringify(saveParams(a.params)));
    const before = paramsToArrays(b);
    const { b2: _, ...lacking } = saved;
    expect(() => loadParams(b.params, lacking)).toThrow(/^saved parameters lack "b2"$/);
    expect(paramsToArrays(b)).toEqual(before);
    const tensors = tf.memory().numTensors;
    const values = deserializeParams(b.params, saved);
    expect(tf.memory().numTensors).toBe(tensors + 4);
    tf.dispose(Object.values(values));
    loadParams(b.params, saved);
    expect(paramsToArrays(b)).toEqual(paramsToArrays(a));
  });
});
