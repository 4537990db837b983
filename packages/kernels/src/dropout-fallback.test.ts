import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { drawDropoutMasks } from '@eqprop/energies';
import { layeredMlp } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { unfusedReason } from './dense-plan.js';
import { FusedFixedPoint } from './fused-fixed-point.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

describe('a batch bound with dropout masks', () => {
  it('is relaxed by tfjs ops (the fused kernels know no masks): auto falls back, fused refuses in one line', () => {
    const net = layeredMlp(
      { kind: 'mlp', sizes: [8, 12, 4], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', dropout: [0.2, 0.5, 0] },
      new Rng(1),
    );
    const x = tf.randomUniform([3, 8], 0, 1, 'float32', 2);
    const plain = net.bind(x);
    const masked = net.bind(x, drawDropoutMasks(net, 3, new Rng(3)));
    expect(unfusedReason(plain)).toBeUndefined(); // the same batch without masks would fuse
    expect(unfusedReason(masked)).toBe('its dropout masks are applied by tfjs ops');
    const init = net.zeroState(3);
    const opts = { maxSteps: 5 };
    const auto = new FusedFixedPoint(new FixedPoint('synchronous'), 'auto').relax(masked, init, opts);
    const tfjs = new FixedPoint('synchronous').relax(masked, init, opts);
    auto.state.forEach((s, i) => expect(Array.from(s.dataSync())).toEqual(Array.from(tfjs.state[i].dataSync())));
    expect(() => new FusedFixedPoint(new FixedPoint('synchronous'), 'fused').relax(masked, init, opts)).toThrow(
      new ConfigError('the fused kernels cannot relax this network: its dropout masks are applied by tfjs ops (kernels "auto" falls back to tfjs ops)'),
    );
    tf.dispose([...auto.state, ...tfjs.state, ...init, x]);
    [plain, masked].forEach((b) => b.dispose());
  });
});
