import { ConfigError, type Grads, type Params, tf } from '@eqprop/core';
import { type Activation, Bias, type Cost, CrossEntropyReadout, DenseCoupling, type EnergyNetwork } from '@eqprop/energies';

interface TwinLayer {
  weight: string;
  bias?: string;
  activation: Activation;
}

/**
 * The feedforward twin of a layered EP network: the same layer sizes and a copy of its current
 * weights (same parameter names), used feed-forward,
 *   a_0 = x,  a_k = σ_k(a_{k−1} W_{k−1,k} + b_k),  loss = mean over the batch of C(a_L, y),
 * with the EP network's activations (ρ of the Hopfield form, σ of the primitive form) and cost
 * (MSE, or a copy of the CE readout). Trained by autodiff; the caller applies the gradients with
 * learning's Optimizer (baselines may not import learning), so EP and its twin share one
 * optimizer class and one set of initial weights.
 */
export class BackpropTwin {
  readonly params: Params = {};
  readonly cost: Cost;
  private readonly layers: TwinLayer[] = [];
  private readonly names: string[];

  constructor(net: EnergyNetwork) {
    const misfit = net.terms.find((t) => !(t instanceof Bias) && !(t instanceof DenseCoupling && t.upper === t.lower + 1));
    if (misfit) {
      throw new ConfigError(
        `the backprop twin needs a layered network (dense couplings between consecutive layers, biases): term ${misfit.name} does not fit (convnets have no twin yet)`,
      );
    }
    for (let k = 1; k <= net.depth; k++) {
      const coupling = net.terms.find((t): t is DenseCoupling => t instanceof DenseCoupling && t.upper === k);
      if (!coupling) throw new ConfigError(`the backprop twin needs a dense coupling into every layer: layer ${k} has none`);
      const bias = net.terms.find((t): t is Bias => t instanceof Bias && t.layer === k);
      this.params[coupling.name] = copy(coupling.weight);
      if (bias) this.params[bias.name] = copy(bias.bias);
      this.layers.push({ weight: coupling.name, bias: bias?.name, activation: net.activations[k - 1] });
    }
    if (net.cost instanceof CrossEntropyReadout) {
      this.cost = new CrossEntropyReadout(copy(net.cost.weight), copy(net.cost.bias));
      Object.assign(this.params, this.cost.params);
    } else if (Object.keys(net.cost.params).length === 0) {
      this.cost = net.cost;
    } else {
      throw new ConfigError(`the backprop twin cannot copy the cost "${net.cost.name}" (it has parameters of an unknown kind)`);
    }
    this.names = Object.keys(this.params);
  }

  /** a_L for a batch (x of any shape [batch, …]). */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forwardWith(x));
  }

  /** Mean loss over the batch (a scalar tensor). */
  loss(x: tf.Tensor, y: tf.Tensor): tf.Scalar {
    return tf.tidy(() => tf.mean(this.cost.cost(this.forwardWith(x), y)) as tf.Scalar);
  }

  /** Class scores (argmax = prediction). */
  scores(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.cost.scores(this.forwardWith(x)));
  }

  /** ∂loss/∂θ by autodiff, keyed like `params`, with the loss and the output a_L (the caller disposes the tensors). */
  gradients(x: tf.Tensor, y: tf.Tensor): { grads: Grads; loss: number; out: tf.Tensor } {
    const vars = this.names.map((n) => this.params[n]);
    let out: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const a = this.forwardWith(x);
      out = tf.keep(a.clone());
      return tf.mean(this.cost.cost(a, y)) as tf.Scalar;
    }, vars);
    const loss = value.dataSync()[0];
    value.dispose();
    // variableGrads keys by the (global, generated) variable names
    return { grads: Object.fromEntries(this.names.map((n, i) => [n, grads[vars[i].name]])), loss, out: out! };
  }

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose();
  }

  private forwardWith(x: tf.Tensor): tf.Tensor {
    let a = x.rank === 2 ? x : x.reshape([x.shape[0], -1]);
    for (const layer of this.layers) {
      let h = matMul(a, this.params[layer.weight]);
      if (layer.bias) h = tf.add(h, this.params[layer.bias]);
      a = layer.activation.apply(h);
    }
    return a;
  }
}

/**
 * a·b whose gradient transposes explicitly: tf.matMul's own gradient multiplies with transposeA /
 * transposeB, which the wasm backend runs about 4× slower than a transpose and a plain matMul.
 */
const matMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1])),
      tf.matMul(tf.transpose(saved[0]), dy as tf.Tensor2D),
    ],
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** A new trainable variable holding v's current values. */
function copy(v: tf.Variable): tf.Variable {
  const values = v.clone();
  const out = tf.variable(values, true);
  values.dispose();
  return out;
}
