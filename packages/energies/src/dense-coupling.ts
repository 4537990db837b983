import { type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import type { Term, TermCache } from './term.js';

/**
 * Dense coupling E = −Σ_batch a_lowerᵀ W a_upper (Hopfield weights, symmetric by construction).
 * W has shape [n_lower, n_upper]. Note: on the wasm backend a transposed matMul is ~10× slower
 * than transposing first, so Wᵀ is cached per batch and transposes are explicit.
 */
export class DenseCoupling implements Term {
  readonly name: string;
  readonly layers: readonly number[];
  readonly params: Params;
  readonly weight: tf.Variable;

  constructor(
    readonly lower: number,
    readonly upper: number,
    weight: tf.Variable,
    name = `W${lower}_${upper}`,
  ) {
    if (weight.rank !== 2) throw new ShapeError(`${name}: weight must be 2-D, got shape [${weight.shape}]`);
    this.name = name;
    this.layers = [lower, upper];
    this.weight = weight;
    this.params = { [name]: weight };
  }

  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.neg(tf.sum(tf.mul(tf.matMul(flat(acts[this.lower]), this.weight as tf.Tensor2D), flat(acts[this.upper])), 1)));
  }

  field(acts: readonly tf.Tensor[], k: number, cache: TermCache): tf.Tensor {
    // in a tidy of its own: flattening a conv layer's activity makes tensors a caller does not see
    return tf.tidy(() => {
      if (k === this.upper) {
        const lower = flat(acts[this.lower]);
        return this.lower === 0 ? this.inputProjection(lower) : tf.matMul(lower, this.weight as tf.Tensor2D);
      }
      const wT = cache.shared(`${this.name}:T`, () => tf.transpose(this.weight)) as tf.Tensor2D;
      const f = tf.matMul(flat(acts[this.upper]), wT);
      const lowerShape = acts[this.lower].shape; // a flattened conv layer below: back to its shape
      return lowerShape.length === 2 ? f : f.reshape(lowerShape);
    });
  }

  /**
   * x·W for the clamped input, once per batch. The wasm backend packs a matmul's right operand
   * anew whenever it is a new tensor, and W is one after every update (packing 784×512 took longer
   * than the product); as (Wᵀ·xᵀ)ᵀ the weights are the left operand, which is not packed.
   */
  private inputProjection(x: tf.Tensor2D): tf.Tensor2D {
    const w = this.weight as tf.Tensor2D;
    // the packed operand is then xᵀ: worth it while the batch is smaller than the layer
    if (x.shape[0] >= w.shape[1]) return tf.matMul(x, w);
    return tf.tidy(() => tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(x)))) as tf.Tensor2D;
  }

  shapeMismatch(shapes: readonly (readonly number[])[]): string | undefined {
    const [nLower, nUpper] = this.weight.shape;
    const [lower, upper] = [shapes[this.lower], shapes[this.upper]];
    if (lower.reduce((a, b) => a * b, 1) !== nLower) {
      return `weight of shape [${this.weight.shape}] needs ${nLower} units on layer ${this.lower}, which has shape [${lower}]`;
    }
    if (upper.length !== 1 || upper[0] !== nUpper)
      return `weight of shape [${this.weight.shape}] needs layer ${this.upper} of shape [${nUpper}], which has shape [${upper}]`;
    return undefined;
  }

  isStaticFor(k: number): boolean {
    // the field on one side depends on the other side only; layer 0 is clamped
    return (k === this.upper ? this.lower : this.upper) === 0;
  }

  paramGrads(acts: readonly tf.Tensor[]): Grads {
    return {
      [this.name]: tf.tidy(() => {
        const a = flat(acts[this.lower]);
        return tf.div(tf.neg(tf.matMul(tf.transpose(a), acts[this.upper] as tf.Tensor2D)), a.shape[0]);
      }),
    };
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number): Grads {
    return {
      [this.name]: tf.tidy(() => {
        const la = flat(a[this.lower]);
        const lb = flat(b[this.lower]);
        const n = la.shape[0];
        if (a[this.lower] === b[this.lower]) {
          // clamped lower side: aᵀ(u_a − u_b) in one matmul, scaled on the small side
          return tf.matMul(tf.transpose(la), tf.mul(tf.sub(a[this.upper], b[this.upper]), -scale / n) as tf.Tensor2D);
        }
        // stack both phases along the batch: [la; lb]ᵀ [ua; −ub] = laᵀua − lbᵀub
        const lower = tf.concat([la, lb], 0);
        const upper = tf.mul(tf.concat([a[this.upper], tf.neg(b[this.upper])], 0), -scale / n) as tf.Tensor2D;
        return tf.matMul(tf.transpose(lower), upper);
      }),
    };
  }
}

function flat(t: tf.Tensor): tf.Tensor2D {
  return (t.rank === 2 ? t : t.reshape([t.shape[0], -1])) as tf.Tensor2D;
}
