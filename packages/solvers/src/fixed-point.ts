import { tf, ConfigError, type State } from '@eqprop/core';
import type { BoundNetwork } from '@eqprop/energies';
import { iterate, type Relaxation, type RelaxOptions, type Solver } from './solver.js';

export type FixedPointSchedule = 'synchronous' | 'alternating';

/**
 * Fixed-point iteration s_k ← σ(∂Φ/∂s_k) (Ernoult et al. 2019; Laborieux et al. 2021).
 * `synchronous` updates every layer from the old state (the papers' dynamics, needed for GDU);
 * `alternating` updates odd layers, then even layers from the new odd ones. Layers of one parity
 * do not interact, so each half-step minimises E exactly over those layers: E never rises and
 * it converges in fewer steps.
 */
export class FixedPoint implements Solver {
  readonly name: string;
  constructor(readonly schedule: FixedPointSchedule = 'synchronous') {
    if (schedule !== 'synchronous' && schedule !== 'alternating') {
      throw new ConfigError(`fixed-point schedule must be "synchronous" or "alternating", got "${schedule}"`);
    }
    this.name = `fixed-point-${schedule}`;
  }

  relax(bound: BoundNetwork, init: State, opts: RelaxOptions): Relaxation {
    const net = bound.net;
    const L = net.depth;
    // σ(field) = base(gain·(field − centre)), with gain and centre folded into cached weights
    const update = (all: tf.Tensor[], k: number) => net.activations[k - 1].base(bound.preActivation(all, k, opts.nudge));
    if (net.form === 'hopfield' && !net.activations.every((a) => a.identityOnRange)) {
      throw new ConfigError('fixed-point relaxation of a hopfield network needs activations that are the identity on their range (hard sigmoid)');
    }
    return iterate(bound, init, opts, (state) =>
      tf.tidy(() => {
        if (this.schedule === 'synchronous') {
          const all = bound.allActs(state);
          return state.map((_, i) => update(all, i + 1));
        }
        const all = bound.allActs(state.slice());
        for (const parity of [1, 0]) {
          const fresh: [number, tf.Tensor][] = [];
          for (let k = 1; k <= L; k++) if (k % 2 === parity) fresh.push([k, update(all, k)]);
          for (const [k, t] of fresh) all[k] = t;
        }
        return all.slice(1);
      }),
    );
  }
}
