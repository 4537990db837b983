import { ConfigError, tf } from '@eqprop/core';
import type { FixedPoint } from '@eqprop/solvers';
import type { Dynamics } from './dynamics.js';
import { couplingField } from './field-vjp.js';

/**
 * s_{t+1} = (1 − ε)·s_t + ε·σ(h(s_t)), h = ∂Φ/∂s, every layer from the same old state:
 * FixedPoint('synchronous') with its very ops (FixedPoint.layerStep; σ(h) = base(gain·(h − centre)),
 * the affine part folded into the field). ε = 1 is the plain iteration.
 * Backward, with ν = ε σ'(h) ⊙ λ: ∂L/∂s_t = (1 − ε) λ + (∂h/∂s)ᵀ ν, the coupling field of ν
 * (W and Wᵀ products; the Jacobian of h is the Hessian of Φ, symmetric); the step's parameter
 * gradient is (∂h/∂θ at s_t)ᵀ ν.
 * GDU compares EP's increments with the gradient where the nudge enters the step, and `dt` is the
 * factor the step applies to it there: nudge inside σ, ∂L/∂h = ν and dt 1 (exact as β → 0);
 * outside, ∂L/∂s = λ and dt ε, as in Ernoult et al.'s code (approximate: their first nudged
 * step carries no σ', the later ones do).
 */
export function fixedPointDynamics(solver: FixedPoint): Dynamics {
  const eps = solver.stepSize;
  const outside = solver.nudgeAt === 'outside';
  return {
    name: `fixed-point-synchronous${eps === 1 ? '' : `-eps${eps}`}${outside ? '-nudge-outside' : ''}`,
    dt: outside ? eps : 1,

    forward(bound, state, nudge) {
      const net = bound.net;
      if (net.form === 'hopfield' && !net.activations.every((a) => a.identityOnRange)) {
        throw new ConfigError('fixed-point relaxation of a hopfield network needs activations that are the identity on their range (hard sigmoid)');
      }
      const steps = tf.tidy(() => {
        const all = bound.allActs(state);
        return state.map((_, i) => solver.layerStep(bound, all, i + 1, nudge));
      });
      return { prev: state, next: steps.map((t) => t.next), saved: steps.map((t) => t.z) };
    },

    backward(bound, tr, lambda, wantPrev) {
      const acts = bound.net.activations;
      const slopeLambda = tf.tidy(() =>
        tr.saved.map((z, i) => {
          const { gain, centre } = acts[i].affine;
          const h = tf.add(tf.div(z, gain), centre);
          return tf.mul(acts[i].derivative(h), lambda[i]);
        }),
      );
      const dir = slopeLambda.map((t) => (eps === 1 ? t : tf.mul(t, eps)));
      if (eps !== 1) slopeLambda.forEach((t) => t.dispose());
      const backThrough = (i: number) =>
        tf.tidy(() => {
          const field = couplingField(bound, dir, i + 1);
          return eps === 1 ? field : tf.add(tf.mul(lambda[i], 1 - eps), field);
        });
      const prev = wantPrev ? dir.map((_, i) => backThrough(i)) : undefined;
      const pre = (outside ? lambda : dir).map((t) => t.clone());
      // the state is the activity in this form (hopfield with hard sigmoid: identity on the range)
      return { pre, prev, acts: tr.prev.map((s) => s.clone()), dir };
    },
  };
}
