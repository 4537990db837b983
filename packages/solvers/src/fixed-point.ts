import { ConfigError, type State, tf } from '@eqprop/core';
import type { BoundNetwork, Nudge } from '@eqprop/energies';
import { type Clamp, StepSolver } from './solver.js';

export type FixedPointSchedule = 'synchronous' | 'alternating';

/**
 * Where the nudge enters a fixed-point step. `inside`: s = σ(∂Φ/∂s − β ∂C/∂s), the nudge is part of
 * Φ (Laborieux et al. 2021). `outside`: s = σ(∂Φ/∂s) − β ∂C/∂s, added after the activation
 * (Ernoult et al. 2019's reference code, whose nudge is not damped by σ′ on saturated outputs).
 */
export type NudgePlacement = 'inside' | 'outside';

export interface FixedPointOptions {
  /**
   * ε in s ← (1 − ε)·s + ε·target, in (0, 1]. 1 (default) is the plain iteration s ← σ(∂Φ/∂s);
   * Ernoult et al.'s reference code runs its "discrete" dynamics with ε = dt = 0.2.
   */
  stepSize?: number;
  nudge?: NudgePlacement;
}

/**
 * Fixed-point iteration s_k ← σ(∂Φ/∂s_k) (Ernoult et al. 2019; Laborieux et al. 2021).
 * `synchronous` updates every layer from the old state (the papers' dynamics, needed for GDU);
 * `alternating` updates odd layers, then even layers from the new odd ones. Layers of one parity
 * do not interact, so each half-step minimises E exactly over those layers: E never rises and
 * it converges in fewer steps (undamped, nudge inside).
 */
export class FixedPoint extends StepSolver {
  readonly name: string;
  readonly stepSize: number;
  readonly nudgeAt: NudgePlacement;

  constructor(
    readonly schedule: FixedPointSchedule = 'synchronous',
    opts: FixedPointOptions = {},
  ) {
    super();
    if (schedule !== 'synchronous' && schedule !== 'alternating') {
      throw new ConfigError(`fixed-point schedule must be "synchronous" or "alternating", got "${schedule}"`);
    }
    this.stepSize = opts.stepSize ?? 1;
    if (!(this.stepSize > 0 && this.stepSize <= 1)) throw new ConfigError(`fixed-point step size must be in (0, 1], got ${opts.stepSize}`);
    this.nudgeAt = opts.nudge ?? 'inside';
    if (this.nudgeAt !== 'inside' && this.nudgeAt !== 'outside') {
      throw new ConfigError(`fixed-point nudge placement must be "inside" or "outside", got "${opts.nudge}"`);
    }
    this.name = `fixed-point-${schedule}`;
  }

  protected check(bound: BoundNetwork): void {
    const net = bound.net;
    if (net.form === 'hopfield' && !net.activations.every((a) => a.identityOnRange)) {
      throw new ConfigError('fixed-point relaxation of a hopfield network needs activations that are the identity on their range (hard sigmoid)');
    }
  }

  protected step(state: State, b: BoundNetwork, nudge?: Nudge, clamp?: Clamp): State {
    const L = b.net.depth;
    const held = clamp?.layer;
    return tf.tidy(() => {
      const update = (all: tf.Tensor[], k: number) => this.next(b, all, k, nudge);
      if (this.schedule === 'synchronous') {
        const all = b.allActs(state);
        return state.map((s, i) => (i + 1 === held ? s.clone() : update(all, i + 1)));
      }
      const all = b.allActs(state.slice());
      for (const parity of [1, 0]) {
        const fresh: [number, tf.Tensor][] = [];
        for (let k = 1; k <= L; k++) if (k % 2 === parity && k !== held) fresh.push([k, update(all, k)]);
        for (const [k, t] of fresh) all[k] = t;
      }
      // the held layer is a new tensor, as every other (the caller disposes the old state)
      return all.slice(1).map((t, i) => (i + 1 === held ? state[i].clone() : t));
    });
  }

  /**
   * Layer k's new state from activities `all` = [x, a_1 … a_L]: σ's base at its argument
   * z = gain·(field − centre) (BoundNetwork.preActivation). `z`, when given, is reused.
   */
  private next(bound: BoundNetwork, all: readonly tf.Tensor[], k: number, nudge?: Nudge, z?: tf.Tensor): tf.Tensor {
    const inside = this.nudgeAt === 'inside';
    const nudged = nudge !== undefined && nudge.beta !== 0 && k === bound.net.depth;
    let target = bound.net.activations[k - 1].base(z ?? bound.preActivation(all, k, inside ? nudge : undefined));
    if (!inside && nudged) target = tf.add(target, bound.nudgeDrive(all[k], nudge));
    const eps = this.stepSize;
    return eps === 1 ? target : tf.add(tf.mul(all[k], 1 - eps), tf.mul(target, eps));
  }

  /**
   * Layer k's step with the activation's argument z kept: the same new state as relax's step, bit
   * for bit. BPTT replays this (it keeps z for the backward step).
   */
  layerStep(bound: BoundNetwork, all: readonly tf.Tensor[], k: number, nudge?: Nudge): { z: tf.Tensor; next: tf.Tensor } {
    const z = bound.preActivation(all, k, this.nudgeAt === 'inside' ? nudge : undefined);
    return { z, next: this.next(bound, all, k, nudge, z) };
  }
}
