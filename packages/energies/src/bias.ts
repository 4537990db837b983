import { tf, type Params, type Grads } from '@eqprop/core';
import type { Term } from './term.js';

/** Bias E = −Σ_batch bᵀ a_k. Its field is constant, so relaxations fold it into the static part. */
export class Bias implements Term {
  readonly name: string;
  readonly layers: readonly number[];
  readonly params: Params;

  constructor(
    readonly layer: number,
    readonly bias: tf.Variable,
    name = `b${layer}`,
  ) {
    this.name = name;
    this.layers = [layer];
    this.params = { [name]: bias };
  }

  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    const a = acts[this.layer];
    return tf.tidy(() => tf.neg(tf.sum(tf.mul(a.reshape([a.shape[0], -1]), this.bias.reshape([1, -1])), 1)));
  }

  field(acts: readonly tf.Tensor[]): tf.Tensor {
    const batch = acts[0].shape[0];
    return tf.tidy(() => tf.tile(this.bias.reshape([1, ...this.bias.shape]), [batch, ...this.bias.shape.map(() => 1)]));
  }

  isStaticFor(): boolean {
    return true;
  }

  paramGrads(acts: readonly tf.Tensor[]): Grads {
    return { [this.name]: tf.tidy(() => tf.neg(tf.mean(acts[this.layer], 0))) };
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number): Grads {
    return { [this.name]: tf.tidy(() => tf.mul(tf.mean(tf.sub(a[this.layer], b[this.layer]), 0), -scale)) };
  }
}
