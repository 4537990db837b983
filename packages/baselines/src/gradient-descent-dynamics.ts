import { ConfigError, tf } from '@eqprop/core';
import type { Activation } from '@eqprop/energies';
import type { Dynamics } from './dynamics.js';
import { couplingField } from './field-vjp.js';

/**
 * GradientDescent(ε) on the Hopfield form: u = (1−ε)s + ε ρ'(s) ⊙ h(ρ(s)), s_{t+1} = clip(u)
 * (saved: u, then h, per layer).
 * Backward, with μ = ∂L/∂u = clip'(u) ⊙ λ and ν = ε ρ'(s) ⊙ μ:
 *   ∂L/∂s_t = (1−ε) μ + ε ρ''(s) ⊙ h ⊙ μ + ρ'(s) ⊙ (coupling field of ν),
 * and the step's parameter gradient is (∂h/∂θ at ρ(s_t))ᵀ ν. With a hard sigmoid the solver
 * takes ρ' = 1 on the clipped range, so ν = εμ and the ρ'' term vanishes.
 */
export function gradientDescentDynamics(eps: number): Dynamics {
  return {
    name: 'gradient-descent',
    dt: eps,

    forward(bound, state, nudge) {
      const net = bound.net;
      if (net.form !== 'hopfield') {
        throw new ConfigError(`gradient-descent relaxation needs a network of the hopfield form, got "${net.form}"`);
      }
      return tf.tidy(() => {
        const all = bound.allActs(net.activities(state));
        const fields = state.map((_, i) => bound.field(all, i + 1, nudge));
        const pre = state.map((s, i) => {
          const act = net.activations[i];
          // the same ops as GradientDescent.relax, so the numbers agree bit for bit
          const drive = act.identityOnRange ? fields[i] : tf.mul(act.derivative(s), fields[i]);
          return tf.add(tf.mul(s, 1 - eps), tf.mul(drive, eps));
        });
        const next = pre.map((u, i) => tf.clipByValue(u, net.activations[i].range[0], net.activations[i].range[1]));
        return { prev: state, next, saved: [...pre, ...fields] };
      });
    },

    backward(bound, tr, lambda, wantPrev) {
      const net = bound.net;
      return tf.tidy(() => {
        const L = tr.prev.length;
        const pre = tr.saved.slice(0, L).map((u, i) => {
          const [lo, hi] = net.activations[i].range;
          return tf.mul(tf.cast(tf.logicalAnd(tf.greaterEqual(u, lo), tf.lessEqual(u, hi)), 'float32'), lambda[i]);
        });
        const slope = tr.prev.map((s, i) => (net.activations[i].identityOnRange ? null : net.activations[i].derivative(s)));
        const dir = pre.map((mu, i) => tf.mul(slope[i] ? tf.mul(slope[i]!, mu) : mu, eps));
        const acts = net.activities(tr.prev).map((a) => a.clone());
        if (!wantPrev) return { pre, acts, dir };
        const prev = pre.map((mu, i) => {
          const act = net.activations[i];
          let g = tf.add(tf.mul(mu, 1 - eps), couplingFieldTimes(bound, dir, i + 1, slope[i]));
          if (slope[i]) g = tf.add(g, tf.mul(tf.mul(secondDerivative(act, tr.prev[i]), tr.saved[L + i]), tf.mul(mu, eps)));
          return g;
        });
        return { pre, prev, acts, dir };
      });
    },
  };
}

function couplingFieldTimes(bound: Parameters<typeof couplingField>[0], dir: tf.Tensor[], k: number, slope: tf.Tensor | null): tf.Tensor {
  const f = couplingField(bound, dir, k);
  return slope ? tf.mul(slope, f) : f;
}

/** ρ'' elementwise, by autodiff of ρ' (the Activation interface gives ρ and ρ' only). */
function secondDerivative(act: Activation, s: tf.Tensor): tf.Tensor {
  return tf.grad((x: tf.Tensor) => tf.sum(act.derivative(x)))(s);
}
