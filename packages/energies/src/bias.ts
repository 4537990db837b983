import { type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import type { Term } from './term.js';

/**
 * Bias E = −Σ_batch Σ b·a_k. The bias has the shape of the layer's trailing axes: the whole layer
 * ([n] for a dense layer), or its channels ([C] for a conv layer of shape [H, W, C], one value
 * per channel shared over positions, broadcast like PyTorch's conv bias). Its field is constant,
 * so relaxations fold it into the static part.
 */
export class Bias implements Term {
  readonly name: string;
  readonly layers: readonly number[];
  readonly params: Params;
  /** Per-example shape of the layer (default: the bias's own shape). */
  readonly layerShape: number[];

  constructor(
    readonly layer: number,
    readonly bias: tf.Variable,
    name = `b${layer}`,
    layerShape: readonly number[] = bias.shape,
  ) {
    this.name = name;
    this.layers = [layer];
    this.params = { [name]: bias };
    this.layerShape = layerShape.slice();
    const tail = this.layerShape.slice(this.layerShape.length - bias.rank);
    if (bias.rank > layerShape.length || tail.join(',') !== bias.shape.join(',')) {
      throw new ShapeError(`${name}: bias of shape [${bias.shape}] does not match the trailing axes of layer shape [${layerShape}]`);
    }
  }

  /** a as [batch, positions, bias size]: sums over the first two axes give ∂E/∂b. */
  private grouped(a: tf.Tensor): tf.Tensor3D {
    return a.reshape([a.shape[0], -1, this.bias.size]) as tf.Tensor3D;
  }

  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.neg(tf.sum(tf.mul(this.grouped(acts[this.layer]), this.bias.reshape([1, 1, -1])), [1, 2])));
  }

  field(acts: readonly tf.Tensor[]): tf.Tensor {
    const batch = acts[0].shape[0];
    const ones = this.layerShape.slice(0, this.layerShape.length - this.bias.rank).map(() => 1);
    // a broadcasting add of b as [1, 1…, b]: tf.broadcastTo is ~20× slower on wasm
    return tf.tidy(() => tf.add(tf.zeros([batch, ...this.layerShape]), this.bias.reshape([1, ...ones, ...this.bias.shape])));
  }

  shapeMismatch(shapes: readonly (readonly number[])[]): string | undefined {
    const layer = shapes[this.layer];
    if (layer.join(',') === this.layerShape.join(',')) return undefined;
    return `bias of shape [${this.bias.shape}], made for a layer of shape [${this.layerShape}], does not fit layer ${this.layer} of shape [${layer}]`;
  }

  isStaticFor(): boolean {
    return true;
  }

  paramGrads(acts: readonly tf.Tensor[]): Grads {
    return { [this.name]: tf.tidy(() => this.sumOver(acts[this.layer], -1 / acts[this.layer].shape[0])) };
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number): Grads {
    return { [this.name]: tf.tidy(() => this.sumOver(tf.sub(a[this.layer], b[this.layer]), -scale / a[this.layer].shape[0])) };
  }

  /** scale · Σ over batch and positions, in the bias's shape. */
  private sumOver(a: tf.Tensor, scale: number): tf.Tensor {
    return tf.mul(tf.sum(this.grouped(a), [0, 1]), scale).reshape(this.bias.shape);
  }
}
