import { type Grads, type Params, Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { DenseCoupling, type Term } from '@eqprop/energies';
import { beforeAll, describe, expect, it } from 'vitest';
import { layeredMlp } from './mlp.js';
import { withTerms } from './with-terms.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const mlp = () => layeredMlp({ kind: 'mlp', sizes: [4, 5, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(1));

/** E = −½ Σ a_1ᵀ L a_1 inside layer 1. */
class Lateral implements Term {
  readonly name = 'lateral1';
  readonly layers = [1];
  readonly params: Params;
  constructor(readonly weight: tf.Variable) {
    this.params = { L1: weight };
  }
  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.mul(-0.5, tf.sum(tf.mul(tf.matMul(acts[1] as tf.Tensor2D, this.weight as tf.Tensor2D), acts[1]), 1)));
  }
  field(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.matMul(acts[1] as tf.Tensor2D, tf.mul(0.5, tf.add(this.weight, tf.transpose(this.weight))) as tf.Tensor2D));
  }
  isStaticFor(): boolean {
    return false;
  }
  paramGrads(acts: readonly tf.Tensor[]): Grads {
    return { L1: tf.tidy(() => tf.mul(tf.matMul(acts[1] as tf.Tensor2D, acts[1] as tf.Tensor2D, true, false), -0.5 / acts[1].shape[0])) };
  }
}

describe('withTerms: terms added to a built model', () => {
  it('shares the variables, adds the term to the energy and keeps the learning-rate groups, so the new parameter has none', () => {
    const model = mlp();
    const L = tf.variable(tf.tensor2d(new Rng(2).uniformArray(25, -1, 1), [5, 5]));
    const net = withTerms(model, [new Lateral(L)]);
    expect(Object.keys(net.params)).toEqual(['W0_1', 'b1', 'W1_2', 'b2', 'L1']);
    expect(net.params.W0_1).toBe(model.params.W0_1);
    expect(net.groups).toEqual({ W0_1: 1, b1: 1, W1_2: 2, b2: 2 });
    expect(model.terms).toHaveLength(4); // the model itself is unchanged
    // E(net) − E(model) is the lateral term's energy
    const x = tf.randomUniform([3, 4], 0, 1, 'float32', 1);
    const s = [tf.randomUniform([3, 5], 0, 1, 'float32', 2), tf.randomUniform([3, 3], 0, 1, 'float32', 3)];
    const gap = tf.sub(net.energy(x, s), model.energy(x, s));
    const lateral = new Lateral(L).energy([x, ...s]);
    expect(Math.max(...tf.abs(tf.sub(gap, lateral)).dataSync())).toBeLessThan(1e-5);
    expect(Math.max(...tf.abs(lateral).dataSync())).toBeGreaterThan(0.01);
  });

  it('refuses a term that does not fit with a ShapeError naming it', () => {
    expect(() => withTerms(mlp(), [new Lateral(tf.variable(tf.zeros([4, 4])))])).toThrow(ShapeError);
    expect(() => withTerms(mlp(), [new DenseCoupling(0, 2, tf.variable(tf.zeros([4, 5])), 'S0_2')])).toThrow(
      /^term S0_2: weight of shape \[4,5\] needs layer 2 of shape \[5\], which has shape \[3\]$/,
    );
  });
});
