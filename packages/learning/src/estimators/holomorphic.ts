import { ConfigError, type Grads, type Reads, type State, tf } from '@eqprop/core';
import type { BoundNetwork, EnergyNetwork } from '@eqprop/energies';
import type { FixedPoint, Relaxation, Solver } from '@eqprop/solvers';
import { checkHolomorphic, complexRelaxReads } from './complex-fixed-point.js';
import { BaseEstimator, costParamGrads, disposeRelaxation, type Estimate, type EstimateRequest, type EstimatorDraw, nudgeReads } from './estimator.js';

export interface HolomorphicOptions {
  /** N ≥ 2 nudges β·e^{2πik/N} on the circle of radius β; the error shrinks as β^N. */
  points: number;
  /**
   * A complex phase whose last step still moved some unit by more than this (or by NaN/Inf) did
   * not converge: the estimate falls back to N = 2, the real ±β pair (as the reference code does).
   * Default 0.1.
   */
  divergenceTol?: number;
}

/**
 * Holomorphic EP (Laborieux & Zenke 2022): N nudges β_k = β·e^{2πik/N}; ∂L/∂θ is the first
 * Fourier coefficient of ∂E/∂θ over the N equilibria, Re[(1/N) Σ_k ∂E/∂θ(s_k) / β_k] (Cauchy's
 * integral for d/dβ ∂E/∂θ at 0, exact up to O(β^N)). States are complex, carried as real/imaginary
 * pairs; only the phases with Im β_k ≥ 0 are relaxed, the others are their conjugates.
 *
 * ∂E/∂θ at a complex state s = r + i·m: every supported term's ∂E/∂θ is a polynomial of degree ≤ 2
 * in the activities (couplings bilinear, biases linear), so with h(t) = ∂E/∂θ(r + t·m),
 * ∂E/∂θ(s) = h(0) − c₂ + i·c₁ where c₁ = (h(1) − h(−1))/2 and c₂ = (h(1) + h(−1))/2 − h(0): three
 * real evaluations, taken as differences of equilibria (paramGradsDiff) to keep float32 cancellation
 * where every EP estimator has it. Primitive form, fixed-point solver, logistic activations, MSE
 * cost or CE readout (checkHolomorphic says which and why in one line).
 */
export class HolomorphicEstimator extends BaseEstimator {
  readonly points: number;
  readonly divergenceTol: number;

  constructor(beta: number, opts: HolomorphicOptions, name = `holomorphic-${opts.points}`) {
    super(name, beta);
    if (!Number.isInteger(opts.points) || opts.points < 2) throw new ConfigError(`holomorphic EP needs points N ≥ 2 (an integer), got ${opts.points}`);
    this.points = opts.points;
    this.divergenceTol = opts.divergenceTol ?? 0.1;
    if (!(this.divergenceTol > 0)) throw new ConfigError(`divergenceTol must be > 0, got ${opts.divergenceTol}`);
  }

  check(net: EnergyNetwork, solver: Solver): void {
    checkHolomorphic(net, solver);
  }

  *estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const beta = this.betaOf(draw);
    const { bound, y } = req;
    checkHolomorphic(bound.net, req.solver);
    const N = this.points;
    const nudged: Relaxation[] = [];
    try {
      // the real phases +β (k = 0) and, for even N, −β (k = N/2); the complex ones 0 < k < N/2
      const plus = yield* nudgeReads(req, free, beta);
      nudged.push(plus);
      const complex: { phi: number; r: Relaxation }[] = [];
      for (let k = 1; 2 * k < N; k++) {
        const phi = (2 * Math.PI * k) / N;
        const r = yield* complexRelaxReads(bound, req.solver as FixedPoint, free.state, { re: beta * Math.cos(phi), im: beta * Math.sin(phi) }, y, req.nudged);
        nudged.push(r);
        complex.push({ phi, r });
      }
      let minus = N % 2 === 0 ? yield* nudgeReads(req, free, -beta) : undefined;
      if (minus) nudged.push(minus);
      const bad = complex.find(({ r }) => !(r.residual <= this.divergenceTol));
      let grads: Grads;
      let fallback: string | undefined;
      if (bad) {
        // the reference code's fallback: N = 2, the symmetric estimate from the real ±β pair
        if (!minus) {
          minus = yield* nudgeReads(req, free, -beta);
          nudged.push(minus);
        }
        grads = bound.paramGradsDiff(plus.state, minus.state, 1 / (2 * beta), free.state);
        const angle = `β·e^{${(bad.phi / Math.PI).toFixed(3)}πi}`;
        fallback = `the complex phase ${angle} did not converge (last step ${bad.r.residual} > ${this.divergenceTol}): the ±β estimate (N = 2) instead`;
      } else {
        grads = fourierCoefficient(bound, free.state, beta, N, plus.state, minus?.state, complex);
      }
      Object.assign(grads, costParamGrads(bound, free.state, y));
      return { grads, free, nudged, beta, fallback };
    } catch (e) {
      nudged.forEach(disposeRelaxation);
      throw e;
    }
  }
}

/**
 * Re[(1/N) Σ_k (∂E/∂θ(s_k) − ∂E/∂θ(s*)) e^{−iφ_k} / β] over all N phases (Σ_k e^{−iφ_k} = 0, so
 * subtracting the free equilibrium's ∂E/∂θ changes nothing but the rounding), a conjugate pair
 * counted twice through its Im ≥ 0 member.
 */
function fourierCoefficient(
  bound: BoundNetwork,
  free: State,
  beta: number,
  N: number,
  plus: State,
  minus: State | undefined,
  complex: { phi: number; r: Relaxation }[],
): Grads {
  const L = bound.net.depth;
  const c = 1 / (N * beta);
  const diffs: [State, State, number][] = [[plus, free, c]];
  if (minus) diffs.push([minus, free, -c]);
  const made: tf.Tensor[] = [];
  for (const { phi, r: rel } of complex) {
    const [re, im] = [rel.state.slice(0, L), rel.state.slice(L)];
    const up = re.map((t, i) => tf.add(t, im[i]));
    const down = re.map((t, i) => tf.sub(t, im[i]));
    made.push(...up, ...down);
    const [cos, sin] = [Math.cos(phi), Math.sin(phi)];
    // 2·Re[e^{−iφ}(h(0) − c₂ + i c₁)] = 2[cos φ (h(0) − c₂) + sin φ c₁], c₁ and c₂ from h(±1) − h(0)
    diffs.push([re, free, 2 * cos * c], [up, re, (sin - cos) * c], [down, re, -(sin + cos) * c]);
  }
  try {
    return tf.tidy(() => {
      const parts = diffs.map(([a, b, scale]) => bound.paramGradsDiff(a, b, scale, free));
      return Object.fromEntries(Object.keys(parts[0]).map((k) => [k, tf.addN(parts.map((p) => p[k]))]));
    });
  } finally {
    tf.dispose(made);
  }
}
