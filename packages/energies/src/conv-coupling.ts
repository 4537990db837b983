import { type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import { type ConvGeometry, conv2d, conv2dBackpropFilter, conv2dBackpropInput, convOutputSize, flipKernel, kernelRow, transposeByRows } from './conv-ops.js';
import { checkPooling, isRouted, NO_POOLING, type Pooling, pool, poolAndRoute, poolRouting, unpool } from './pooling.js';
import type { Term, TermCache } from './term.js';

export interface ConvCouplingOptions extends Partial<ConvGeometry> {
  /** Per-example shape [height, width, channels] of the lower layer. */
  inputShape: number[];
  /** Pooling of the convolution before it meets the upper layer (default none): max, avg or softmax. */
  pool?: Pooling;
}

/**
 * Per-example shape [h, w, channels] of the layer a convolution (then pooling) of a layer of shape
 * `inputShape` feeds. Throws a ShapeError naming the value when the kernel does not fit the input,
 * its channels do not match, or the pooling does not divide the convolution's output.
 */
export function convLayerShape(inputShape: number[], kernelShape: number[], geometry: ConvGeometry, p: Pooling, name: string): number[] {
  const { stride, padding } = geometry;
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${name}: the lower layer must have shape [height, width, channels], got [${inputShape}]`);
  }
  if (kernelShape.length !== 4 || kernelShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${name}: kernel must have shape [kh, kw, in, out], got [${kernelShape}]`);
  }
  if (!Number.isInteger(stride) || stride < 1) throw new ShapeError(`${name}: stride must be a positive integer, got ${stride}`);
  if (!Number.isInteger(padding) || padding < 0) throw new ShapeError(`${name}: padding must be an integer ≥ 0, got ${padding}`);
  checkPooling(p, name);
  const [H, W, C] = inputShape;
  const [kh, kw, cin, cout] = kernelShape;
  if (cin !== C) throw new ShapeError(`${name}: kernel takes ${cin} input channels, but the lower layer [${inputShape}] has ${C}`);
  if (kh > H + 2 * padding || kw > W + 2 * padding) {
    throw new ShapeError(`${name}: kernel ${kh}×${kw} is larger than its input ${H}×${W}${padding ? ` padded by ${padding}` : ''}`);
  }
  const [oh, ow] = [convOutputSize(H, kh, geometry), convOutputSize(W, kw, geometry)];
  if (oh % p.size !== 0 || ow % p.size !== 0) {
    throw new ShapeError(`${name}: ${p.kind}-pooling of size ${p.size} does not divide the ${oh}×${ow} output of the convolution`);
  }
  return [oh / p.size, ow / p.size, cout];
}

/**
 * Convolutional coupling Φ = Σ a_upper · P(conv(a_lower, K)), E = −Φ (Ernoult et al. 2019,
 * Laborieux et al. 2021): the pooled convolution of the lower layer feeds the upper layer; the
 * field on the lower layer is the gradient of Φ, routed back through the pooling (max: to the
 * first maximum of each window; avg: evenly; softmax: by the smooth maximum's Jacobian, so the
 * field stays −∂E/∂a) and the transposed convolution. The per-channel bias of the convolution is
 * a Bias term on the upper layer (max and average pooling commute with it; softmax pooling
 * does too, P(c + b) = P(c) + b).
 *
 * The convolution of a free lower layer and its pooling routing are computed once per state and
 * shared by the fields of both layers (TermCache.latest); with the clamped input as the lower
 * layer, the upper field is static and computed once per batch.
 */
export class ConvCoupling implements Term {
  readonly name: string;
  readonly layers: readonly number[];
  readonly params: Params;
  readonly kernel: tf.Variable;
  readonly geometry: ConvGeometry;
  readonly pool: Pooling;
  readonly inputShape: number[];
  /** Per-example shape of the upper layer. */
  readonly outputShape: number[];
  /** Whether the lower layer's field is a transposed convolution done row by row (transposeByRows). */
  readonly transposesByRows: boolean;

  constructor(
    readonly lower: number,
    readonly upper: number,
    kernel: tf.Variable,
    opts: ConvCouplingOptions,
    name = `K${lower}_${upper}`,
  ) {
    this.name = name;
    this.layers = [lower, upper];
    this.kernel = kernel;
    this.params = { [name]: kernel };
    this.geometry = { stride: opts.stride ?? 1, padding: opts.padding ?? 0 };
    this.pool = opts.pool ?? NO_POOLING;
    this.inputShape = opts.inputShape.slice();
    this.outputShape = convLayerShape(this.inputShape, kernel.shape, this.geometry, this.pool, name);
    this.transposesByRows = transposeByRows(convOutputSize(this.inputShape[0], kernel.shape[0], this.geometry), this.inputShape[0], this.geometry);
  }

  private get routed(): boolean {
    return isRouted(this.pool);
  }

  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.neg(tf.sum(tf.mul(this.pooled(acts[this.lower]), acts[this.upper]), [1, 2, 3])));
  }

  field(acts: readonly tf.Tensor[], k: number, cache: TermCache): tf.Tensor {
    return tf.tidy(() => {
      if (k === this.upper) {
        // the cached convolution stays the cache's: the caller gets a copy it may dispose
        return this.lower === 0 ? this.pooled(acts[0]) : this.forward(acts[this.lower], cache)[0].clone();
      }
      const mask = this.routed ? this.forward(acts[this.lower], cache)[1] : undefined;
      const flipped = cache.shared(`${this.name}:flip`, () => flipKernel(this.kernel));
      const rows = this.transposesByRows
        ? Array.from({ length: this.kernel.shape[0] }, (_, r) => cache.shared(`${this.name}:row${r}`, () => kernelRow(flipped, r)))
        : undefined;
      return conv2dBackpropInput(unpool(acts[this.upper], this.pool, mask), this.kernel, flipped, this.inputShape, this.geometry, rows);
    });
  }

  shapeMismatch(shapes: readonly (readonly number[])[]): string | undefined {
    const [lower, upper] = [shapes[this.lower], shapes[this.upper]];
    if (lower.join(',') !== this.inputShape.join(',')) {
      return `kernel of shape [${this.kernel.shape}] was made for a lower layer of shape [${this.inputShape}], but layer ${this.lower} has shape [${lower}]`;
    }
    if (upper.join(',') !== this.outputShape.join(',')) {
      return `kernel of shape [${this.kernel.shape}] makes layer ${this.upper} of shape [${this.outputShape}], but it has shape [${upper}]`;
    }
    return undefined;
  }

  isStaticFor(k: number): boolean {
    return k === this.upper && this.lower === 0;
  }

  paramGrads(acts: readonly tf.Tensor[]): Grads {
    return {
      [this.name]: tf.tidy(() => {
        const a = acts[this.lower];
        return tf.mul(this.kernelGrad(a, this.unpoolAt(a, acts[this.upper])), -1 / a.shape[0]);
      }),
    };
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number): Grads {
    return {
      [this.name]: tf.tidy(() => {
        const [la, lb] = [a[this.lower], b[this.lower]];
        const n = la.shape[0];
        if (la === lb) {
          // clamped lower side: the routing is the same in both phases, one kernel gradient
          return tf.mul(this.kernelGrad(la, this.unpoolAt(la, tf.sub(a[this.upper], b[this.upper]))), -scale / n);
        }
        // both phases stacked along the batch: one kernel gradient of [la; lb] against [ga; −gb]
        const g = tf.concat([this.unpoolAt(la, a[this.upper]), tf.neg(this.unpoolAt(lb, b[this.upper]))], 0);
        return tf.mul(this.kernelGrad(tf.concat([la, lb], 0), g), -scale / n);
      }),
    };
  }

  /** P(conv(a)). */
  private pooled(a: tf.Tensor): tf.Tensor {
    return tf.tidy(() => pool(conv2d(a, this.kernel, this.geometry), this.pool));
  }

  /** [P(conv(a)), pooling routing (max mask, softmax Jacobian)] for the current state of the lower layer, made once per state. */
  private forward(a: tf.Tensor, cache: TermCache): tf.Tensor[] {
    return cache.latest(`${this.name}:forward`, a, () => poolAndRoute(conv2d(a, this.kernel, this.geometry), this.pool));
  }

  /** Pᵀ u with the pooling routed as at lower activity a: ∂Φ/∂conv(a). */
  private unpoolAt(a: tf.Tensor, u: tf.Tensor): tf.Tensor {
    return tf.tidy(() => unpool(u, this.pool, this.routed ? poolRouting(conv2d(a, this.kernel, this.geometry), this.pool) : undefined));
  }

  private kernelGrad(a: tf.Tensor, dy: tf.Tensor): tf.Tensor {
    const [kh, kw] = this.kernel.shape;
    return conv2dBackpropFilter(a, dy, [kh, kw], this.geometry);
  }
}
