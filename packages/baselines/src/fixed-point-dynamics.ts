import { tf, ConfigError } from '@eqprop/core';
import type { Dynamics } from './dynamics.js';
import { couplingField } from './field-vjp.js';

/**
 * s_{t+1} = σ(h(s_t)), h = ∂Φ/∂s, every layer from the same old state: FixedPoint('synchronous'),
 * with its very ops (σ(h) = base(gain·(h − centre)), the affine part folded into the field).
 * Backward: ∂L/∂h = σ'(h) ⊙ λ, and ∂L/∂s_t = (∂h/∂s)ᵀ ∂L/∂h = the coupling field of ∂L/∂h
 * (W and Wᵀ products; the Jacobian of h is the Hessian of Φ, symmetric).
 */
export const fixedPointDynamics: Dynamics = {
  name: 'fixed-point-synchronous',
  dt: 1,

  forward(bound, state, nudge) {
    const net = bound.net;
    if (net.form === 'hopfield' && !net.activations.every((a) => a.identityOnRange)) {
      throw new ConfigError('fixed-point relaxation of a hopfield network needs activations that are the identity on their range (hard sigmoid)');
    }
    const z = tf.tidy(() => {
      const all = bound.allActs(state);
      return state.map((_, i) => bound.preActivation(all, i + 1, nudge));
    });
    const next = z.map((t, i) => net.activations[i].base(t));
    return { prev: state, next, saved: z };
  },

  backward(bound, tr, lambda, wantPrev) {
    const acts = bound.net.activations;
    const pre = tf.tidy(() =>
      tr.saved.map((z, i) => {
        const { gain, centre } = acts[i].affine;
        const h = tf.add(tf.div(z, gain), centre);
        return tf.mul(acts[i].derivative(h), lambda[i]);
      }),
    );
    const prev = wantPrev ? pre.map((_, i) => couplingField(bound, pre, i + 1)) : undefined;
    // the state is the activity in this form (hopfield with hard sigmoid: identity on the range)
    return { pre, prev, acts: tr.prev.map((s) => s.clone()), dir: pre.map((t) => t.clone()) };
  },
};
