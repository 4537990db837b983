import { type Grads, type Params, ShapeError, tf } from '@eqprop/core';
import type { TermCache } from './term.js';

/**
 * The cost C(s_L, y) that nudging adds to the energy (F = E + β·C). It may own parameters that
 * are not part of the energy (the CE readout of Laborieux et al. 2021), trained by ∂C/∂θ.
 */
export interface Cost {
  readonly name: string;
  readonly params: Params;
  /** Cost per example, shape [batch]. */
  cost(out: tf.Tensor, y: tf.Tensor): tf.Tensor;
  /** −∂C/∂out: what nudging adds (times β) to the output layer's field. */
  nudgeField(out: tf.Tensor, y: tf.Tensor, cache: TermCache): tf.Tensor;
  /** Class scores for prediction (argmax). */
  scores(out: tf.Tensor): tf.Tensor;
  /** ∂C/∂θ for the cost's own parameters, averaged over the batch (empty for MSE). */
  paramGrads(out: tf.Tensor, y: tf.Tensor): Grads;
}

/**
 * C = w·‖s_L − y‖², w = ½ by default (Ernoult et al., Laborieux et al.). Scellier & Bengio's
 * reference code uses w = 1, which doubles both the nudging force and the EP gradient.
 */
export class MseCost implements Cost {
  readonly name = 'mse';
  readonly params: Params = {};
  constructor(readonly weight = 0.5) {}
  cost(out: tf.Tensor, y: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(this.weight, tf.sum(tf.square(tf.sub(flat(out), y)), 1)));
  }
  nudgeField(out: tf.Tensor, y: tf.Tensor): tf.Tensor {
    return tf.tidy(() => (this.weight === 0.5 ? tf.sub(y, flat(out)) : tf.mul(tf.sub(y, flat(out)), 2 * this.weight)));
  }
  scores(out: tf.Tensor): tf.Tensor {
    return flat(out).clone();
  }
  paramGrads(): Grads {
    return {};
  }
}

/**
 * C = CE(softmax(s_L W_out + b_out), y): a readout outside the energy (Laborieux et al. 2021).
 * Nudging acts on s_L through −∂C/∂s_L = −(softmax − y) W_outᵀ; W_out and b_out learn by ∂C/∂θ.
 */
export class CrossEntropyReadout implements Cost {
  readonly name = 'ce-readout';
  readonly params: Params;
  constructor(
    readonly weight: tf.Variable,
    readonly bias: tf.Variable,
  ) {
    if (weight.rank !== 2 || bias.rank !== 1 || bias.shape[0] !== weight.shape[1]) {
      throw new ShapeError(`readout: weight [n, classes] and bias [classes] expected, got [${weight.shape}] and [${bias.shape}]`);
    }
    this.params = { Wout: weight, bout: bias };
  }
  private logits(out: tf.Tensor): tf.Tensor2D {
    return tf.add(tf.matMul(flat(out), this.weight as tf.Tensor2D), this.bias) as tf.Tensor2D;
  }
  cost(out: tf.Tensor, y: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(this.logits(out))), 1)));
  }
  nudgeField(out: tf.Tensor, y: tf.Tensor, cache: TermCache): tf.Tensor {
    const wT = cache.shared('Wout:T', () => tf.transpose(this.weight)) as tf.Tensor2D;
    return tf.tidy(() => tf.neg(tf.matMul(tf.sub(tf.softmax(this.logits(out)), y) as tf.Tensor2D, wT)).reshape(out.shape));
  }
  scores(out: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.logits(out));
  }
  paramGrads(out: tf.Tensor, y: tf.Tensor): Grads {
    return tf.tidy(() => {
      const a = flat(out);
      const err = tf.sub(tf.softmax(this.logits(out)), y) as tf.Tensor2D;
      return { Wout: tf.div(tf.matMul(tf.transpose(a), err), a.shape[0]), bout: tf.mean(err, 0) };
    });
  }
}

function flat(t: tf.Tensor): tf.Tensor2D {
  return (t.rank === 2 ? t : t.reshape([t.shape[0], -1])) as tf.Tensor2D;
}
