import { ConfigError, Rng, type State, setupBackend, tf } from '@eqprop/core';
import { VfDenseCoupling } from '@eqprop/energies';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { FusedFixedPoint } from './fused-fixed-point.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

// The fused plan reads one weight per dense coupling and uses it both ways (W up, Wᵀ down): right
// for a symmetric network only. A vector-field MLP (widths the kernels take, MSE, logistic) must go
// to tfjs ops under `auto` and be refused under `fused`, never relaxed with W in place of B.
describe('the fused kernels and a vector-field MLP', () => {
  const config = { kind: 'vf-mlp', sizes: [20, 16, 12, 8], activation: 'ernoult-sigmoid', cost: 'mse', init: 'fan-in' } as ModelConfig;

  const gap = (a: State, b: State) => Math.max(...a.map((t, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(t, b[i]))).dataSync()[0])));

  it('auto relaxes it with tfjs ops (FixedPoint’s states, bit for bit); fused names the term', () => {
    const net = buildModel(config, new Rng(3));
    const x = tf.randomUniform([6, 20], 0, 1, 'float32', 4);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 8).toFloat();
    const bound = net.bind(x);
    const init = net.zeroState(6);
    const plain = new FixedPoint('synchronous');
    const auto = new FusedFixedPoint(plain, 'auto');
    expect(auto.unfusedReason(bound)).toBe('term W1_2 is neither a dense coupling nor a bias');
    for (const nudge of [undefined, { beta: 0.5, y }]) {
      const [a, b] = [auto.relax(bound, init, { maxSteps: 20, nudge }), plain.relax(bound, init, { maxSteps: 20, nudge })];
      expect(gap(a.state, b.state)).toBe(0);
      tf.dispose([...a.state, ...b.state]);
    }
    expect(() => new FusedFixedPoint(plain, 'fused').relax(bound, init, { maxSteps: 5 })).toThrow(ConfigError);
    expect(() => new FusedFixedPoint(plain, 'fused').relax(bound, init, { maxSteps: 5 })).toThrow(
      /^the fused kernels cannot relax this network: term W1_2 is neither a dense coupling nor a bias/,
    );
    // what W in place of B would give: the symmetric MLP of the same seed relaxes elsewhere
    const sym = buildModel({ ...config, kind: 'mlp', form: 'primitive' }, new Rng(3));
    const bs = sym.bind(x);
    const [v, s] = [plain.relax(bound, init, { maxSteps: 20 }), new FusedFixedPoint(plain, 'auto').relax(bs, init, { maxSteps: 20 })];
    expect(net.terms.some((t) => t instanceof VfDenseCoupling)).toBe(true);
    expect(gap(v.state, s.state)).toBeGreaterThan(1e-2);
    tf.dispose([...v.state, ...s.state]);
    bs.dispose();
    bound.dispose();
  });
});
