import { ConfigError, type State, tf } from '@eqprop/core';
import type { BoundNetwork, Nudge } from '@eqprop/energies';
import { type Clamp, StepSolver } from './solver.js';

/**
 * Gradient descent on F = E + β·C with states clipped to the activation's range
 * (Scellier & Bengio 2017): s ← clip(s − ε ∂F/∂s), all layers updated from the same old state.
 */
export class GradientDescent extends StepSolver {
  readonly name = 'gradient-descent';
  constructor(readonly stepSize: number) {
    super();
    if (!(stepSize > 0)) throw new ConfigError(`gradient-descent step size ε must be > 0, got ${stepSize}`);
  }

  protected check(bound: BoundNetwork): void {
    bound.net.requireEnergy('gradient-descent relaxation');
    if (bound.net.form !== 'hopfield') {
      throw new ConfigError(`gradient-descent relaxation needs a network of the hopfield form, got "${bound.net.form}"`);
    }
  }

  protected step(state: State, b: BoundNetwork, nudge?: Nudge, clamp?: Clamp): State {
    const net = b.net;
    const eps = this.stepSize;
    return tf.tidy(() => {
      const all = b.allActs(net.activities(state));
      return state.map((s, i) => {
        const k = i + 1;
        if (k === clamp?.layer) return s.clone();
        const act = net.activations[i];
        const field = b.field(all, k, nudge);
        // −∂F/∂s = ρ'(s)·field − s; with ρ = identity on the clipped range, ρ' = 1
        const drive = act.identityOnRange ? field : tf.mul(act.derivative(s), field);
        const next = tf.add(tf.mul(s, 1 - eps), tf.mul(drive, eps));
        return tf.clipByValue(next, act.range[0], act.range[1]);
      });
    });
  }
}
