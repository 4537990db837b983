import { type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import { conv2d } from './conv-ops.js';
import type { Term, TermCache } from './term.js';

export interface ResidualCouplingOptions {
  /** Per-example shape [height, width, channels] of the lower layer. */
  inputShape: number[];
  /** Spatial stride (default 1): the upper layer is ⌈height / stride⌉ × ⌈width / stride⌉. */
  stride?: number;
}

/**
 * Per-example shape [⌈H/s⌉, ⌈W/s⌉, out] of the layer a skip coupling of kernel [1, 1, in, out]
 * and stride s feeds from a layer [H, W, in]: a 1×1 convolution of stride s without padding.
 * Throws a ShapeError naming the value when a shape or the stride does not fit.
 */
export function residualLayerShape(inputShape: readonly number[], kernelShape: readonly number[], stride: number, name: string): number[] {
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${name}: the lower layer must have shape [height, width, channels], got [${inputShape}]`);
  }
  if (kernelShape.length !== 4 || kernelShape[0] !== 1 || kernelShape[1] !== 1 || kernelShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${name}: a skip kernel must have shape [1, 1, in, out], got [${kernelShape}]`);
  }
  if (!Number.isInteger(stride) || stride < 1) throw new ShapeError(`${name}: stride must be a positive integer, got ${stride}`);
  const [H, W, C] = inputShape;
  if (kernelShape[2] !== C) throw new ShapeError(`${name}: kernel takes ${kernelShape[2]} input channels, but the lower layer [${inputShape}] has ${C}`);
  return [Math.ceil(H / stride), Math.ceil(W / stride), kernelShape[3]];
}

/**
 * Residual (skip) coupling of the Hopfield-ResNet (Vinayak & Srinivasan 2025, arXiv 2509.26003):
 * Φ = Σ a_upper · S(a_lower)·W, E = −Φ, linking layer i to layer i + 2 past the two convolutions
 * of a block. S keeps every stride-th row and column of the lower layer and W [1, 1, in, out]
 * mixes its channels at each kept position: the paper's 1×1 convolution of stride 2 without
 * padding, which halves the side as the block's strided 3×3 convolution does
 * (⌈H/2⌉ = ⌊(H + 2 − 3)/2⌋ + 1). Its fields and gradient are a subsample and one matmul (the
 * adjoint: a matmul and a zero-filled upsample) instead of a convolution: no transposed
 * convolution of stride 2, which wasm runs only through tf.conv2dTranspose.
 */
export class ResidualCoupling implements Term {
  readonly name: string;
  readonly layers: readonly number[];
  readonly params: Params;
  readonly kernel: tf.Variable;
  readonly stride: number;
  readonly inputShape: number[];
  /** Per-example shape of the upper layer. */
  readonly outputShape: number[];

  constructor(
    readonly lower: number,
    readonly upper: number,
    kernel: tf.Variable,
    opts: ResidualCouplingOptions,
    name = `S${lower}_${upper}`,
  ) {
    this.name = name;
    this.layers = [lower, upper];
    this.kernel = kernel;
    this.params = { [name]: kernel };
    this.stride = opts.stride ?? 1;
    this.inputShape = opts.inputShape.slice();
    this.outputShape = residualLayerShape(this.inputShape, kernel.shape, this.stride, name);
  }

  /** As the 1×1 convolution itself (differentiable by tf.grad, unlike the strided slice of the fields). */
  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.neg(tf.sum(tf.mul(conv2d(acts[this.lower], this.kernel, { stride: this.stride, padding: 0 }), acts[this.upper]), [1, 2, 3])));
  }

  field(acts: readonly tf.Tensor[], k: number, cache: TermCache): tf.Tensor {
    return tf.tidy(() => {
      if (k === this.upper) return this.project(acts[this.lower], this.matrix());
      // −∂E/∂a_lower: u·Wᵀ at the kept positions, zero at the others (Wᵀ made once: a transposed matmul is slow on wasm)
      const wT = cache.shared(`${this.name}:T`, () => tf.transpose(this.matrix())) as tf.Tensor2D;
      const u = acts[this.upper];
      const [n, h, wd] = u.shape;
      const back = tf.matMul(u.reshape([n * h * wd, -1]) as tf.Tensor2D, wT).reshape([n, h, wd, this.inputShape[2]]);
      return this.upsample(back);
    });
  }

  shapeMismatch(shapes: readonly (readonly number[])[]): string | undefined {
    const [lower, upper] = [shapes[this.lower], shapes[this.upper]];
    if (lower.join(',') !== this.inputShape.join(',')) {
      return `skip kernel of shape [${this.kernel.shape}] was made for a lower layer of shape [${this.inputShape}], but layer ${this.lower} has shape [${lower}]`;
    }
    if (upper.join(',') !== this.outputShape.join(',')) {
      return `skip kernel of shape [${this.kernel.shape}] with stride ${this.stride} makes layer ${this.upper} of shape [${this.outputShape}], but it has shape [${upper}]`;
    }
    return undefined;
  }

  isStaticFor(k: number): boolean {
    return k === this.upper && this.lower === 0;
  }

  paramGrads(acts: readonly tf.Tensor[]): Grads {
    return {
      [this.name]: tf.tidy(() => {
        const [lo, up] = [this.rows(this.subsample(acts[this.lower])), this.rows(acts[this.upper])];
        return tf.mul(tf.matMul(tf.transpose(lo), up), -1 / acts[this.lower].shape[0]).reshape(this.kernel.shape);
      }),
    };
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number): Grads {
    return {
      [this.name]: tf.tidy(() => {
        const n = a[this.lower].shape[0];
        const la = this.rows(this.subsample(a[this.lower]));
        if (a[this.lower] === b[this.lower]) {
          // clamped lower side: S(x)ᵀ(u_a − u_b) in one matmul
          return tf.matMul(tf.transpose(la), tf.mul(this.rows(tf.sub(a[this.upper], b[this.upper])), -scale / n)).reshape(this.kernel.shape);
        }
        // both phases stacked along the rows: [la; lb]ᵀ [ua; −ub]
        const lower = tf.concat([la, this.rows(this.subsample(b[this.lower]))], 0);
        const upper = tf.mul(tf.concat([this.rows(a[this.upper]), tf.neg(this.rows(b[this.upper]))], 0), -scale / n);
        return tf.matMul(tf.transpose(lower), upper).reshape(this.kernel.shape);
      }),
    };
  }

  /** W as the [in, out] matrix the positions multiply. */
  private matrix(): tf.Tensor2D {
    const [, , cin, cout] = this.kernel.shape as number[];
    return this.kernel.reshape([cin, cout]);
  }

  /** S(a)·W: the 1×1 convolution of stride s, [batch, ⌈H/s⌉, ⌈W/s⌉, out]. */
  private project(a: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
    return tf.tidy(() => {
      const sub = this.subsample(a);
      const [n, h, wd] = sub.shape;
      return tf.matMul(this.rows(sub), w).reshape([n, h, wd, w.shape[1]]);
    });
  }

  /** Every stride-th row and column, from the first: the positions a 1×1 kernel of stride s visits. */
  private subsample(a: tf.Tensor): tf.Tensor {
    return this.stride === 1 ? a : tf.stridedSlice(a, [0, 0, 0, 0], a.shape, [1, this.stride, this.stride, 1]);
  }

  /** Sᵀ: v [batch, h, w, C] back at the kept positions of the lower layer, zeros between. */
  private upsample(v: tf.Tensor): tf.Tensor {
    const s = this.stride;
    if (s === 1) return v;
    const [n, h, w, C] = v.shape;
    const [H, W] = this.inputShape;
    // each value first in an s × s block of zeros, then the blocks cut to the layer's side
    const blocks = tf
      .pad(v.reshape([n, h, 1, w, 1, C]), [
        [0, 0],
        [0, 0],
        [0, s - 1],
        [0, 0],
        [0, s - 1],
        [0, 0],
      ])
      .reshape([n, h * s, w * s, C]);
    return H === h * s && W === w * s ? blocks : tf.slice(blocks, [0, 0, 0, 0], [n, H, W, C]);
  }

  /** [batch, h, w, C] as [batch·h·w, C]: one row per position. */
  private rows(t: tf.Tensor): tf.Tensor2D {
    return t.reshape([-1, t.shape[t.rank - 1] as number]) as tf.Tensor2D;
  }
}
