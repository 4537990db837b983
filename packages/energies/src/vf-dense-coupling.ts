import { ConfigError, type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import type { FieldTerm, TermCache } from './term.js';
import { weightAngle } from './weight-angle.js';

export interface VfCouplingOptions {
  /**
   * Give B the same update as W: both get EP's update of the shared cross term at each phase's
   * whole state (the reference code's `--same-update`, which averages the two, identical for a
   * dense coupling). Default false: the vector-field rule.
   */
  sameUpdate?: boolean;
}

/**
 * Vector-field dense coupling between free layers l < u (Laborieux et al. 2021, VF_MLP / VF_CNN):
 * forward weights W feed the upper layer, bias-free backward weights B the lower one, both of
 * shape [n_l, n_u]. There is no energy: each layer has its own primitive, and this coupling puts
 * a_lᵀ W a_u in Φ_u and a_lᵀ B a_u in Φ_l. Fields: ∂Φ_u/∂a_u = a_l W, ∂Φ_l/∂a_l = a_u Bᵀ.
 *
 * The update differentiates each Φ_k at layer k's own activity, its neighbour held at the anchor
 * (the free equilibrium): ∂/∂W = −a_l⁰ᵀ a_u, ∂/∂B = −a_lᵀ a_u⁰ (batch means), so the one-sided EP
 * difference is −a_l⁰ᵀ(a_u^β − a_u⁰)/β for W and −(a_l^β − a_l⁰)ᵀ a_u⁰/β for B (the reference's
 * compute_syn_grads with neurons_2). With B = W the fields are a dense coupling's, and the two
 * updates add up to EP's update of W plus Δa_lᵀΔa_u/β, a term of order β. A lower layer of conv
 * shape is flattened.
 */
export class VfDenseCoupling implements FieldTerm {
  readonly name: string;
  readonly backwardName: string;
  readonly layers: readonly number[];
  readonly params: Params;
  readonly sameUpdate: boolean;

  constructor(
    readonly lower: number,
    readonly upper: number,
    readonly forward: tf.Variable,
    readonly backward: tf.Variable,
    opts: VfCouplingOptions = {},
    name = `W${lower}_${upper}`,
    backwardName = `B${lower}_${upper}`,
  ) {
    if (forward.rank !== 2) throw new ShapeError(`${name}: weight must be 2-D, got shape [${forward.shape}]`);
    if (backward.shape.join(',') !== forward.shape.join(',')) {
      throw new ShapeError(`${backwardName}: backward weight of shape [${backward.shape}] must have the forward weight's shape [${forward.shape}]`);
    }
    if (!(Number.isInteger(lower) && lower >= 1 && upper > lower)) {
      throw new ConfigError(
        `${name}: a vector-field coupling joins free layers l < u (l ≥ 1: the clamped input takes no field, couple it with a DenseCoupling), got ${lower} → ${upper}`,
      );
    }
    this.name = name;
    this.backwardName = backwardName;
    this.layers = [lower, upper];
    this.params = { [name]: forward, [backwardName]: backward };
    this.sameUpdate = opts.sameUpdate ?? false;
  }

  field(acts: readonly tf.Tensor[], k: number, cache: TermCache): tf.Tensor {
    // in a tidy of its own: flattening a conv layer's activity makes tensors a caller does not see
    return tf.tidy(() => {
      if (k === this.upper) return tf.matMul(flat(acts[this.lower]), this.forward as tf.Tensor2D);
      // Bᵀ once per batch: a transposed matMul is ~10× slower on wasm
      const bt = cache.shared(`${this.backwardName}:T`, () => tf.transpose(this.backward)) as tf.Tensor2D;
      const f = tf.matMul(flat(acts[this.upper]), bt);
      const lowerShape = acts[this.lower].shape; // a flattened conv layer below: back to its shape
      return lowerShape.length === 2 ? f : f.reshape(lowerShape);
    });
  }

  shapeMismatch(shapes: readonly (readonly number[])[]): string | undefined {
    const [nLower, nUpper] = this.forward.shape;
    const [lower, upper] = [shapes[this.lower], shapes[this.upper]];
    if (lower.reduce((a, b) => a * b, 1) !== nLower) {
      return `weight of shape [${this.forward.shape}] needs ${nLower} units on layer ${this.lower}, which has shape [${lower}]`;
    }
    if (upper.length !== 1 || upper[0] !== nUpper)
      return `weight of shape [${this.forward.shape}] needs layer ${this.upper} of shape [${nUpper}], which has shape [${upper}]`;
    return undefined;
  }

  isStaticFor(_k: number): boolean {
    return false; // both sides are free layers
  }

  paramGrads(acts: readonly tf.Tensor[], anchor: readonly tf.Tensor[] = acts): Grads {
    return tf.tidy(() => {
      const n = acts[this.lower].shape[0];
      const outer = (l: tf.Tensor, u: tf.Tensor) => tf.mul(tf.matMul(tf.transpose(flat(l)), u as tf.Tensor2D), -1 / n);
      if (this.sameUpdate) return this.both(outer(acts[this.lower], acts[this.upper]));
      return { [this.name]: outer(anchor[this.lower], acts[this.upper]), [this.backwardName]: outer(acts[this.lower], anchor[this.upper]) };
    });
  }

  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number, anchor: readonly tf.Tensor[] = b): Grads {
    return tf.tidy(() => {
      const c = -scale / a[this.lower].shape[0];
      if (this.sameUpdate) {
        // EP's difference, both phases stacked along the batch: [la; lb]ᵀ [ua; −ub] = laᵀua − lbᵀub
        const lower = tf.concat([flat(a[this.lower]), flat(b[this.lower])], 0);
        const upper = tf.mul(tf.concat([a[this.upper], tf.neg(b[this.upper])], 0), c) as tf.Tensor2D;
        return this.both(tf.matMul(tf.transpose(lower), upper));
      }
      // each Φ_k moves only through its own layer: one matmul per weight
      const dUpper = tf.mul(tf.sub(a[this.upper], b[this.upper]), c) as tf.Tensor2D;
      const dLower = tf.mul(tf.sub(flat(a[this.lower]), flat(b[this.lower])), c);
      return {
        [this.name]: tf.matMul(tf.transpose(flat(anchor[this.lower])), dUpper),
        [this.backwardName]: tf.matMul(tf.transpose(dLower), anchor[this.upper] as tf.Tensor2D),
      };
    });
  }

  /** Degrees between W and B (weightAngle). */
  angle(): tf.Scalar {
    return weightAngle(this.forward, this.backward);
  }

  /** One update for both weights (two tensors: the caller disposes each). */
  private both(g: tf.Tensor): Grads {
    return { [this.name]: g, [this.backwardName]: g.clone() };
  }
}

function flat(t: tf.Tensor): tf.Tensor2D {
  return (t.rank === 2 ? t : t.reshape([t.shape[0], -1])) as tf.Tensor2D;
}
