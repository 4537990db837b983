import { type Grads, tf } from '@eqprop/core';
import type { BoundNetwork, FieldTerm } from '@eqprop/energies';

/**
 * Transposed Jacobian-vector products of the field h_k = ∂Φ/∂a_k (the input every layer gets).
 * They rest on one fact about the terms of `energies`: each is at most bilinear in the
 * activities and linear in its parameters (dense couplings, biases). Then
 *  - the Jacobian ∂h/∂a is the Hessian of Φ, symmetric, and ∂h/∂a · z is the field the
 *    non-static terms send when the activities are replaced by z (Wᵀ and W products);
 *  - (∂h/∂θ)ᵀ z, summed over layers, is the derivative of ∂Φ/∂θ along z.
 * The tests check both against tf.grad on random networks. A network without an energy (vector-field
 * terms: its Jacobian is not symmetric) is refused in one line.
 */

/** What transposes the field's Jacobian as the Hessian of one Φ (requireEnergy's words). */
const BACKWARD = "the backward pass of BPTT and recurrent backprop (it transposes the field's Jacobian as the Hessian of one Φ)";

/** A one-line ConfigError for a network without an energy: BPTT and recurrent backprop call it before any work. */
export function requireSymmetricJacobian(net: BoundNetwork['net']): void {
  net.requireEnergy(BACKWARD);
}

/** (∂h_k/∂a)ᵀ z = Σ_j ∂²Φ/∂a_k∂a_j z_j: the field of the free-free terms evaluated on z. */
export function couplingField(bound: BoundNetwork, z: readonly tf.Tensor[], k: number): tf.Tensor {
  requireSymmetricJacobian(bound.net);
  return tf.tidy(() => {
    const all = bound.allActs(z.slice());
    let f: tf.Tensor | null = null;
    for (const t of bound.net.terms) {
      if (!t.layers.includes(k) || t.isStaticFor(k)) continue;
      const part = t.field(all, k, bound.cache);
      f = f ? tf.add(f, part) : part;
    }
    return f ?? tf.zerosLike(z[k - 1]);
  });
}

/** Terms whose parameter gradient does not depend on the free state: their field is static on every free layer. */
export function isStaticTerm(t: FieldTerm): boolean {
  return t.layers.every((k) => k === 0 || t.isStaticFor(k));
}

/**
 * (∂h/∂θ)ᵀ z = Σ_k (∂h_k/∂θ)ᵀ z_k at activities `acts`, averaged over the batch, for the
 * terms `which` selects. It is the derivative of ∂Φ/∂θ along z, computed exactly by
 * polarisation, (∂Φ/∂θ(a + c·z) − ∂Φ/∂θ(a − c·z)) / 2c, which each term's own paramGradsDiff
 * evaluates in closed form (one stacked matmul for a dense coupling, one for a clamped input).
 * c = 1 / max|z| keeps both sides of the difference the size of a, so no digits are lost.
 */
export function fieldParamVjp(bound: BoundNetwork, acts: readonly tf.Tensor[], z: readonly tf.Tensor[], which: (t: FieldTerm) => boolean = () => true): Grads {
  requireSymmetricJacobian(bound.net);
  return tf.tidy(() => {
    const size = tf.maximum(tf.max(tf.stack(z.map((t) => tf.max(tf.abs(t))))), 1e-30);
    const plus = bound.allActs(acts.map((a, i) => tf.add(a, tf.div(z[i], size))));
    const minus = bound.allActs(acts.map((a, i) => tf.sub(a, tf.div(z[i], size))));
    const grads: Grads = {};
    for (const t of bound.net.terms) {
      if (!which(t)) continue;
      // paramGrads are ∂E/∂θ = −∂Φ/∂θ: scale −½ turns their difference into the derivative of ∂Φ/∂θ
      let part: Grads;
      if (t.paramGradsDiff) {
        part = t.paramGradsDiff(plus, minus, -0.5);
      } else {
        const [a, b] = [t.paramGrads(plus), t.paramGrads(minus)];
        part = Object.fromEntries(Object.keys(a).map((k) => [k, tf.mul(tf.sub(a[k], b[k]), -0.5)]));
      }
      for (const [name, g] of Object.entries(part)) grads[name] = tf.mul(g, size);
    }
    return grads;
  });
}
