import { ConfigError, type Reads, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import type { Relaxation, Solver } from '@eqprop/solvers';
import { BaseEstimator, costParamGrads, type Estimate, type EstimateRequest, type EstimatorDraw } from './estimator.js';
import type { EstimatorFactory } from './registry.js';

/** Which clamped phases: toward the target (positive), away from it (negative), or both (centered). */
export type CoupledVariant = 'positive' | 'negative' | 'centered';

const VARIANTS: readonly CoupledVariant[] = ['positive', 'negative', 'centered'];

/**
 * Coupled learning (Stern et al. 2021; the positive / negative / centered variants of Scellier's
 * `energy-based-learning`). After the free phase the output is not nudged but clamped to
 * s_L^F ± η (y − s_L^F) while the other layers relax with it held (RelaxOptions.clamp); the update
 * is the finite difference of ∂E/∂θ between the two equilibria: (C+ − free)/η, (free − C−)/η or
 * (C+ − C−)/2η. η is the estimator's β (the fraction of the way to the target).
 *
 * As η → 0 it tends to ∂²G/∂θ∂c · (y − s_L^F), G(θ, c) = E at the equilibrium with the output held
 * at c; the loss gradient is that with (y − s_L^F) replaced by (∂²G/∂c²)⁻¹(y − s_L^F): the two agree
 * where the held output's stiffness ∂²G/∂c² is the identity (no hidden layer feeding back), and
 * otherwise differ by that matrix (EP's nudge moves the output by it, a clamp does not).
 */
export class CoupledEstimator extends BaseEstimator {
  constructor(
    beta: number,
    readonly variant: CoupledVariant = 'positive',
    name = 'coupled',
  ) {
    super(name, beta);
    if (!VARIANTS.includes(variant)) throw new ConfigError(`${name}: variant must be one of ${VARIANTS.join(', ')}, got ${JSON.stringify(variant)}`);
  }

  check(net: EnergyNetwork, _solver: Solver): void {
    if (net.cost.name !== 'mse') {
      throw new ConfigError(`${this.name}: the output is clamped toward the target, which needs an MSE cost on the output layer, got cost "${net.cost.name}"`);
    }
  }

  *estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const eta = this.betaOf(draw);
    const L = req.bound.net.depth;
    const out = free.state[L - 1];
    if (req.y.shape.join() !== out.shape.join()) {
      throw new ConfigError(`${this.name}: the targets' shape [${req.y.shape}] must be the output layer's [${out.shape}] (the output is clamped toward them)`);
    }
    const fractions = this.variant === 'positive' ? [eta] : this.variant === 'negative' ? [-eta] : [eta, -eta];
    const clamped: Relaxation[] = [];
    try {
      for (const f of fractions) {
        const value = tf.tidy(() => tf.add(out, tf.mul(tf.sub(req.y, out), f)));
        try {
          clamped.push(yield* req.solver.relaxReads(req.bound, free.state, { ...req.nudged, clamp: { layer: L, value } }));
        } finally {
          value.dispose(); // the relaxation holds its own handle on it
        }
      }
    } catch (e) {
      for (const r of clamped) tf.dispose(r.state);
      throw e;
    }
    const [first, second] = clamped.map((r) => r.state);
    const grads =
      this.variant === 'positive'
        ? req.bound.paramGradsDiff(first, free.state, 1 / eta)
        : this.variant === 'negative'
          ? req.bound.paramGradsDiff(free.state, first, 1 / eta, free.state)
          : req.bound.paramGradsDiff(first, second, 1 / (2 * eta), free.state);
    Object.assign(grads, costParamGrads(req.bound, free.state, req.y));
    return { grads, free, nudged: clamped, beta: eta };
  }
}

/** The factory of `name`: its variant fixed, or (fixed undefined) taken from the `variant` option, positive by default. */
export function coupledFactory(name: string, fixed?: CoupledVariant): EstimatorFactory {
  return ({ beta, variant }) => {
    if (fixed && variant !== undefined && variant !== fixed) {
      throw new ConfigError(`estimator "${name}" is the ${fixed} variant, but variant: ${JSON.stringify(variant)} was given`);
    }
    return new CoupledEstimator(beta, (fixed ?? variant ?? 'positive') as CoupledVariant, name);
  };
}
