import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { VfConvCoupling, VfDenseCoupling } from '@eqprop/energies';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, type ModelConfig } from './registry.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const maxAbs = (t: tf.Tensor) => Math.max(...values(t).map(Math.abs));
const dispose = (net: { params: Record<string, tf.Variable> }) => Object.values(net.params).forEach((p) => p.dispose());

describe('vf-mlp', () => {
  const config = { kind: 'vf-mlp', sizes: [12, 40, 30, 4], activation: 'ernoult-sigmoid', cost: 'mse', init: 'fan-in' };

  it('is the MLP of the same seed (same W and biases) with a backward B per free-free coupling, drawn as the reference’s VF_MLP', () => {
    const vf = buildModel(config as ModelConfig, new Rng(3));
    const mlp = buildModel({ ...config, kind: 'mlp', form: 'primitive' } as ModelConfig, new Rng(3));
    for (const name of Object.keys(mlp.params)) expect(values(vf.params[name])).toEqual(values(mlp.params[name]));
    const vfTerms = vf.terms.filter((t): t is VfDenseCoupling => t instanceof VfDenseCoupling);
    expect(vfTerms.map((t) => [t.name, t.backwardName, t.sameUpdate])).toEqual([
      ['W1_2', 'B1_2', false],
      ['W2_3', 'B2_3', false],
    ]);
    // PyTorch's Linear(n_upper, n_lower): U(±1/√n_upper), not W's U(±1/√n_lower)
    for (const [t, nUpper] of [
      [vfTerms[0], 30],
      [vfTerms[1], 4],
    ] as const) {
      expect(t.backward.shape).toEqual(t.forward.shape);
      expect(maxAbs(t.backward)).toBeLessThanOrEqual(1 / Math.sqrt(nUpper));
      expect(maxAbs(t.backward)).toBeGreaterThan(0.9 / Math.sqrt(nUpper));
    }
    // every parameter in the group of the layer it feeds, B with its forward twin
    expect(vf.groups).toEqual({ W0_1: 1, b1: 1, W1_2: 2, B1_2: 2, b2: 2, W2_3: 3, B2_3: 3, b3: 3 });
    expect(vf.hasEnergy).toBe(false);
    dispose(vf);
    dispose(mlp);
  });

  it('refuses what it cannot be, in one line, leaving no tensor', () => {
    const before = tf.memory().numTensors;
    const bad = (over: object) => () => buildModel({ ...config, ...over } as ModelConfig, new Rng(1));
    expect(bad({ form: 'hopfield' })).toThrow(ConfigError);
    expect(bad({ form: 'hopfield' })).toThrow(
      /^vf-mlp form must be "primitive" \(s = σ\(∂Φ_k\/∂s_k\): a vector field has no energy to descend\), got "hopfield"$/,
    );
    expect(bad({ sameUpdate: 'yes' })).toThrow(/^vf-mlp sameUpdate must be true or false, got "yes"$/);
    expect(bad({ sizes: [12, 4] })).toThrow(/^a vf-mlp network needs two free layers coupled to each other .*: this one has 1 free layer/);
    expect(bad({ sizes: [12, 8, 4], cost: 'ce' })).toThrow(/this one has 1 free layer/);
    expect(tf.memory().numTensors).toBe(before);
    const same = buildModel({ ...config, sameUpdate: true } as ModelConfig, new Rng(1));
    expect(same.terms.filter((t) => t instanceof VfDenseCoupling).every((t) => (t as VfDenseCoupling).sameUpdate)).toBe(true);
    dispose(same);
  });
});

describe('vf-conv', () => {
  const config = {
    kind: 'vf-conv',
    inputShape: [12, 12, 2],
    channels: [3, 4],
    kernels: [3],
    paddings: [1],
    pools: ['max'],
    dense: [6, 5],
    activation: 'half-clip',
    cost: 'ce',
  };

  it('is the convnet of the same seed with B kernels of W’s shape between conv layers and a dense B from the last conv layer; no B on the readout', () => {
    const vf = buildModel(config as ModelConfig, new Rng(4));
    const cnn = buildModel({ ...config, kind: 'conv' } as ModelConfig, new Rng(4));
    for (const name of Object.keys(cnn.params)) expect(values(vf.params[name])).toEqual(values(cnn.params[name]));
    expect(Object.keys(vf.params)).toEqual(['K0_1', 'b1', 'K1_2', 'B1_2', 'b2', 'W2_3', 'B2_3', 'b3', 'Wout', 'bout']);
    const conv = vf.terms.find((t): t is VfConvCoupling => t instanceof VfConvCoupling)!;
    expect([conv.backward.shape, conv.pool, conv.geometry]).toEqual([[3, 3, 3, 4], { kind: 'max', size: 2 }, { stride: 1, padding: 1 }]);
    // the reference's B_syn are modules of W's own shape: W's fan-in (3·3·3 for the kernel, 3·3·4 units for the dense B)
    expect(maxAbs(conv.backward)).toBeLessThanOrEqual(1 / Math.sqrt(27));
    const dense = vf.terms.find((t): t is VfDenseCoupling => t instanceof VfDenseCoupling)!;
    expect(dense.backward.shape).toEqual([36, 6]);
    expect(maxAbs(dense.backward)).toBeLessThanOrEqual(1 / Math.sqrt(36));
    expect(maxAbs(dense.backward)).toBeGreaterThan(0.8 / Math.sqrt(36));
    expect(() => buildModel({ ...config, form: 'hopfield' } as ModelConfig, new Rng(1))).toThrow(/^vf-conv form must be "primitive"/);
    dispose(vf);
    dispose(cnn);
  });
});
