import type { EnergyNetwork } from '@eqprop/energies';
import type { GradientDescent, RelaxOptions } from '@eqprop/solvers';
import { FusedSolver } from './fused-fixed-point.js';
import type { PhaseSettings } from './relax-phase.js';

/**
 * The gradient-descent solver of @eqprop/solvers (Scellier & Bengio 2017) on the fused path
 * (FusedSolver): s ← clip((1 − ε)·s + ε·(field(s) + nudge)) for every layer from the same old
 * state, which is GradientDescent's step s ← clip(s − ε ∂F/∂s) where ρ is the identity on the
 * clipped range (ρ′ = 1: the hard sigmoid, whose gain is 1). In the kernels: the field's products,
 * the nudge, one `lerp` and the clip (`activate`), the damped fixed-point step with the clip after
 * the interpolation instead of before. It refuses (auto: hands to GradientDescent) any other
 * activation and a network that is not of the hopfield form.
 */
export class FusedGradientDescent extends FusedSolver<GradientDescent> {
  override solverReason(net: EnergyNetwork): string | undefined {
    if (net.form !== 'hopfield') return `gradient descent relaxes a network of the hopfield form, not "${net.form}"`;
    const act = net.activations.find((a) => !(a.identityOnRange && a.range[0] === 0 && a.range[1] === 1 && a.affine.gain === 1 && a.affine.centre === 0));
    if (act) return `gradient descent with activation ${act.name} (fused: clip(s, 0, 1) only, ρ′ = 1 on its range)`;
    return undefined;
  }

  settings(opts: RelaxOptions, beta: number): PhaseSettings {
    return { schedule: 'synchronous', eps: this.fallback.stepSize, inside: true, descent: true, beta, ...this.stopping(opts) };
  }
}
