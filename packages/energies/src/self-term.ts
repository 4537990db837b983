import { tf } from '@eqprop/core';
import type { Activation } from './activations.js';

/**
 * The self term of E on the free states. Hopfield form (Scellier & Bengio): ½‖s‖².
 * Primitive form (Ernoult et al.): Σ G(s) with G' = σ⁻¹, which makes s = σ(∂Φ/∂s) the exact
 * minimiser of E over one layer — so layer-alternating fixed-point updates never raise E.
 */
export class SelfTerm {
  constructor(readonly kind: 'quadratic' | 'legendre') {}

  /** Energy per example of one layer's state. */
  energy(s: tf.Tensor, activation: Activation): tf.Tensor {
    return tf.tidy(() => {
      const e = this.kind === 'quadratic' ? tf.mul(0.5, tf.square(s)) : activation.selfEnergy(s);
      return tf.sum(e.reshape([s.shape[0], -1]), 1);
    });
  }

  /** ∂E_self/∂s (quadratic form only: gradient descent relaxes the Hopfield energy). */
  grad(s: tf.Tensor): tf.Tensor {
    return s;
  }
}
