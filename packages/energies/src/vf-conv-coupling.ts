import { ConfigError, type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import { type ConvCouplingOptions, convLayerShape } from './conv-coupling.js';
import { type ConvGeometry, conv2d, conv2dBackpropFilter, conv2dBackpropInput, convOutputSize, flipKernel, kernelRow, transposeByRows } from './conv-ops.js';
import { isRouted, NO_POOLING, type Pooling, pool, poolRouting, unpool } from './pooling.js';
import type { FieldTerm, TermCache } from './term.js';
import type { VfCouplingOptions } from './vf-dense-coupling.js';
import { weightAngle } from './weight-angle.js';

/**
 * Vector-field convolutional coupling between free conv layers l < u (Laborieux et al. 2021,
 * VF_CNN): forward kernel W and bias-free backward kernel B, both [kh, kw, c_l, c_u], the same
 * geometry and pooling P. Φ_u holds a_u · P(conv(a_l, W)) and Φ_l holds a_u · P(conv(a_l, B)):
 * B is a convolution of the lower layer like W, and the field it sends down is the gradient of
 * its cross term, routed back through P (max, softmax: as at conv(a_l, B), not W's) and the
 * transposed convolution with B. No energy.
 *
 * Update: each Φ_k differentiated at layer k's own activity with its neighbour at the anchor (the
 * free equilibrium): W at (a_l⁰, a_u), B at (a_l, a_u⁰). `sameUpdate`: W and B both get the mean
 * of EP's updates of the two cross terms at each phase's whole state (the reference's
 * `--same-update`; they differ only through the routing of a max or softmax pooling).
 */
export class VfConvCoupling implements FieldTerm {
  readonly name: string;
  readonly backwardName: string;
  readonly layers: readonly number[];
  readonly params: Params;
  readonly geometry: ConvGeometry;
  readonly pool: Pooling;
  readonly inputShape: number[];
  /** Per-example shape of the upper layer. */
  readonly outputShape: number[];
  readonly sameUpdate: boolean;
  private readonly byRows: boolean;

  constructor(
    readonly lower: number,
    readonly upper: number,
    readonly forward: tf.Variable,
    readonly backward: tf.Variable,
    opts: ConvCouplingOptions & VfCouplingOptions,
    name = `K${lower}_${upper}`,
    backwardName = `B${lower}_${upper}`,
  ) {
    if (!(Number.isInteger(lower) && lower >= 1 && upper > lower)) {
      throw new ConfigError(
        `${name}: a vector-field coupling joins free layers l < u (l ≥ 1: couple the clamped input with a ConvCoupling), got ${lower} → ${upper}`,
      );
    }
    if (backward.shape.join(',') !== forward.shape.join(',')) {
      throw new ShapeError(`${backwardName}: backward kernel of shape [${backward.shape}] must have the forward kernel's shape [${forward.shape}]`);
    }
    this.name = name;
    this.backwardName = backwardName;
    this.layers = [lower, upper];
    this.params = { [name]: forward, [backwardName]: backward };
    this.geometry = { stride: opts.stride ?? 1, padding: opts.padding ?? 0 };
    this.pool = opts.pool ?? NO_POOLING;
    this.inputShape = opts.inputShape.slice();
    this.outputShape = convLayerShape(this.inputShape, forward.shape, this.geometry, this.pool, name);
    this.byRows = transposeByRows(convOutputSize(this.inputShape[0], forward.shape[0], this.geometry), this.inputShape[0], this.geometry);
    this.sameUpdate = opts.sameUpdate ?? false;
  }

  private get kernelSize(): [number, number] {
    const [kh, kw] = this.forward.shape as [number, number, number, number];
    return [kh, kw];
  }

  private get routed(): boolean {
    return isRouted(this.pool);
  }

  field(acts: readonly tf.Tensor[], k: number, cache: TermCache): tf.Tensor {
    return tf.tidy(() => {
      const a = acts[this.lower];
      // the cached convolution stays the cache's: the caller gets a copy it may dispose
      if (k === this.upper) return cache.latest(`${this.name}:forward`, a, () => [pool(conv2d(a, this.forward, this.geometry), this.pool)])[0].clone();
      const routing = this.routed ? cache.latest(`${this.backwardName}:routing`, a, () => [this.routingOf(this.backward, a)])[0] : undefined;
      const b = this.backwardName;
      const flipped = cache.shared(`${b}:flip`, () => flipKernel(this.backward));
      const rows = this.byRows
        ? Array.from({ length: this.backward.shape[0] }, (_, r) => cache.shared(`${b}:row${r}`, () => kernelRow(flipped, r)))
        : undefined;
      return conv2dBackpropInput(unpool(acts[this.upper], this.pool, routing), this.backward, flipped, this.inputShape, this.geometry, rows);
    });
  }

  shapeMismatch(shapes: readonly (readonly number[])[]): string | undefined {
    const [lower, upper] = [shapes[this.lower], shapes[this.upper]];
    if (lower.join(',') !== this.inputShape.join(',')) {
      return `kernel of shape [${this.forward.shape}] was made for a lower layer of shape [${this.inputShape}], but layer ${this.lower} has shape [${lower}]`;
    }
    if (upper.join(',') !== this.outputShape.join(',')) {
      return `kernel of shape [${this.forward.shape}] makes layer ${this.upper} of shape [${this.outputShape}], but it has shape [${upper}]`;
    }
    return undefined;
  }

  isStaticFor(_k: number): boolean {
    return false; // both sides are free layers
  }

  paramGrads(acts: readonly tf.Tensor[], anchor: readonly tf.Tensor[] = acts): Grads {
    return tf.tidy(() => {
      const [l, u] = [acts[this.lower], acts[this.upper]];
      const c = -1 / l.shape[0];
      if (this.sameUpdate) return this.both(tf.mul(tf.add(this.grad(this.forward, l, u), this.grad(this.backward, l, u)), c / 2));
      return {
        [this.name]: tf.mul(this.grad(this.forward, anchor[this.lower], u), c),
        [this.backwardName]: tf.mul(this.grad(this.backward, l, anchor[this.upper]), c),
      };
    });
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number, anchor: readonly tf.Tensor[] = b): Grads {
    return tf.tidy(() => {
      const [la, lb, ua, ub] = [a[this.lower], b[this.lower], a[this.upper], b[this.upper]];
      const c = -scale / la.shape[0];
      if (this.sameUpdate) {
        const ep = (kernel: tf.Tensor) => this.stacked(kernel, la, ua, lb, ub);
        return this.both(tf.mul(tf.add(ep(this.forward), ep(this.backward)), c / 2));
      }
      // W: Φ_u moves through a_u only, the lower side (and its pooling mask) is the anchor's
      const w = this.grad(this.forward, anchor[this.lower], tf.sub(ua, ub));
      // B: Φ_l moves through a_l, whose routing differs between the phases unless the pooling is linear
      const au = anchor[this.upper];
      const bk = this.routed ? this.stacked(this.backward, la, au, lb, au) : this.grad(this.backward, tf.sub(la, lb), au);
      return { [this.name]: tf.mul(w, c), [this.backwardName]: tf.mul(bk, c) };
    });
  }

  /** Degrees between W and B (weightAngle). */
  angle(): tf.Scalar {
    return weightAngle(this.forward, this.backward);
  }

  /** ∂/∂K of Σ u · P(conv(l, K)), summed over the batch. */
  private grad(kernel: tf.Tensor, l: tf.Tensor, u: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const routedU = unpool(u, this.pool, this.routed ? this.routingOf(kernel, l) : undefined);
      return conv2dBackpropFilter(l, routedU, this.kernelSize, this.geometry);
    });
  }

  /** grad(K, la, ua) − grad(K, lb, ub) as one kernel gradient, both phases stacked along the batch. */
  private stacked(kernel: tf.Tensor, la: tf.Tensor, ua: tf.Tensor, lb: tf.Tensor, ub: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const route = (l: tf.Tensor, u: tf.Tensor) => unpool(u, this.pool, this.routed ? this.routingOf(kernel, l) : undefined);
      const g = tf.concat([route(la, ua), tf.neg(route(lb, ub))], 0);
      return conv2dBackpropFilter(tf.concat([la, lb], 0), g, this.kernelSize, this.geometry);
    });
  }

  /** Where the pooling of conv(a, K) routes its gradient (poolRouting). */
  private routingOf(kernel: tf.Tensor, a: tf.Tensor): tf.Tensor {
    return tf.tidy(() => poolRouting(conv2d(a, kernel, this.geometry), this.pool));
  }

  /** One update for both kernels (two tensors: the caller disposes each). */
  private both(g: tf.Tensor): Grads {
    return { [this.name]: g, [this.backwardName]: g.clone() };
  }
}
