import { recurrentBackprop } from '@eqprop/baselines';
import { ConfigError, compareGrads, Rng, type tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { checkEstimatorName, createEstimator, ESTIMATORS } from '@eqprop/learning';
import type { Relaxation, Solver } from '@eqprop/solvers';
import { fitLogLog, type LogLogFit, type Spread, spread } from './sweep-stats.js';

export interface BetaSweepOptions {
  /** The relaxation of every phase (RBP needs FixedPoint('synchronous') or GradientDescent(ε)). */
  solver: Solver;
  /** Free phase (from zeros): long enough to converge, since every estimate is taken at s*. */
  freeSteps: number;
  /** Each nudged phase runs this many steps, with no early stop (a tolerance would cut tiny nudges short). */
  nudgedSteps: number;
  /**
   * Registered estimator names (`one-sided`, `five-phase`, `holomorphic-4`, a user's …), each measured
   * on the same batches and free equilibria; default the three seed estimators.
   */
  estimators?: readonly string[];
  /** The sign of β per batch for the random-sign estimator (default all +1). */
  signs?: readonly (1 | -1)[];
  /** Adjoint iteration of the reference gradient. */
  adjointSteps?: number;
  adjointTol?: number;
  /** The tiny β at which the noise floor is measured (default 1e-6). */
  noiseBeta?: number;
}

/** One β of the sweep: each estimator's agreement with the true gradient, batch by batch. */
export interface BetaPoint {
  beta: number;
  /** By estimator name, in the order the sweep was given them. */
  estimators: Record<string, { cosine: number[]; relError: number[] }>;
  /**
   * Per batch, the noise coefficient n: the relative error of a one-sided estimate at a β so tiny
   * (`noiseBeta`) that its bias is nothing and float32 rounding of the nudged state is everything,
   * times that β. The error of an estimate at β cannot go below about n / β (the noise floor).
   */
  noise: number[];
  freeResidual: number[];
  adjointResidual: number[];
}

/**
 * EP's estimates against recurrent backprop's gradient (the true gradient at the free equilibrium)
 * for one β, on fixed batches: per batch, one free phase to s*, RBP's gradient there, then each
 * estimator's nudged phase(s) from s* (Laborieux et al. 2021, Fig. 2). Random-sign takes one
 * sign per batch from `signs`, so the same batches see the same signs at every β.
 */
export function betaSweepPoint(net: EnergyNetwork, batches: readonly { x: tf.Tensor; y: tf.Tensor }[], beta: number, opts: BetaSweepOptions): BetaPoint {
  if (!(beta > 0) || !Number.isFinite(beta)) throw new ConfigError(`β must be a positive number, got ${beta}`);
  const kinds = opts.estimators ?? ESTIMATORS;
  kinds.forEach(checkEstimatorName);
  const noiseBeta = opts.noiseBeta ?? 1e-6;
  const point: BetaPoint = { beta, estimators: {}, noise: [], freeResidual: [], adjointResidual: [] };
  for (const k of kinds) point.estimators[k] = { cosine: [], relError: [] };
  batches.forEach((batch, b) => {
    const bound = net.bind(batch.x);
    const zeros = net.zeroState(batch.x.shape[0]);
    const rbp = recurrentBackprop(bound, batch.y, zeros, {
      solver: opts.solver,
      freeSteps: opts.freeSteps,
      adjointSteps: opts.adjointSteps,
      adjointTol: opts.adjointTol,
    });
    const free: Relaxation = { state: rbp.state, steps: rbp.freeSteps, meanSteps: rbp.freeSteps, residual: rbp.freeResidual, converged: true };
    const nudged = { maxSteps: opts.nudgedSteps };
    try {
      point.freeResidual.push(rbp.freeResidual);
      point.adjointResidual.push(rbp.adjointResidual);
      const req = { bound, y: batch.y, solver: opts.solver, init: zeros, free: { maxSteps: opts.freeSteps }, nudged };
      const measure = (kind: string, signed: number) => {
        // the draw (signed β) is given, so the estimator's own Rng is never drawn from
        const r = createEstimator(kind, { beta: Math.abs(signed), rng: new Rng(0) }).estimateFrom(req, free, signed);
        const agreement = compareGrads(r.grads, rbp.grads);
        Object.values(r.grads).forEach((t) => t.dispose());
        r.nudged.forEach((n) => n.state.forEach((t) => t.dispose()));
        return agreement;
      };
      point.noise.push(measure('one-sided', noiseBeta).relError * noiseBeta);
      for (const kind of kinds) {
        const { cosine, relError } = measure(kind, kind === 'random-sign' ? beta * (opts.signs?.[b] ?? 1) : beta);
        point.estimators[kind]!.cosine.push(cosine);
        point.estimators[kind]!.relError.push(relError);
      }
    } finally {
      [...zeros, ...rbp.state, ...Object.values(rbp.grads)].forEach((t) => t.dispose());
      bound.dispose();
    }
  });
  return point;
}

/** What the sweep says about one estimator, over all β. */
export interface EstimatorSweep {
  estimator: string;
  betas: number[];
  cosine: Spread[];
  relError: Spread[];
  /** The grid β with the smallest mean relative error. */
  best: { beta: number; relError: number; cosine: number };
  /**
   * The largest β at which the noise floor n / β is at least a tenth of the measured error: there
   * and below, float32 noise and not the estimator's bias shapes the error. null when it never is.
   */
  noiseOnset: number | null;
  /**
   * The log-log slope of the mean relative error over the β above the noise onset and ≤ fitMax
   * (default 0.1: the small-β regime, where the bias is O(β) or O(β²)); null with < 3 points.
   */
  fit: LogLogFit | null;
}

export interface BetaSweepSummary {
  betas: number[];
  /** The noise coefficient n (mean ± std over batches and points); the noise floor is n / β. */
  noise: Spread;
  estimators: EstimatorSweep[];
}

/** Sorts the points by β and summarises each estimator: mean ± std, best β, noise onset, fitted slope. */
export function summariseBetaSweep(points: readonly BetaPoint[], opts: { fitMax?: number } = {}): BetaSweepSummary {
  const sorted = points.slice().sort((a, b) => a.beta - b.beta);
  const betas = sorted.map((p) => p.beta);
  const noise = spread(sorted.flatMap((p) => p.noise));
  const fitMax = opts.fitMax ?? 0.1;
  const kinds = Object.keys(sorted[0]?.estimators ?? {}).filter((k) => sorted.every((p) => p.estimators[k]));
  const estimators = kinds.map((estimator): EstimatorSweep => {
    const relError = sorted.map((p) => spread(p.estimators[estimator]!.relError));
    const cosine = sorted.map((p) => spread(p.estimators[estimator]!.cosine));
    let bi = 0;
    relError.forEach((s, i) => {
      if (s.mean < relError[bi].mean) bi = i;
    });
    let noiseOnset: number | null = null;
    betas.forEach((beta, i) => {
      if (noise.mean / beta >= 0.1 * relError[i].mean) noiseOnset = beta;
    });
    const onset = noiseOnset ?? 0;
    const use = betas.map((_beta, i) => i).filter((i) => betas[i] > onset && betas[i] <= fitMax);
    const fit =
      use.length >= 3
        ? fitLogLog(
            use.map((i) => betas[i]),
            use.map((i) => relError[i].mean),
          )
        : null;
    return { estimator, betas, cosine, relError, best: { beta: betas[bi], relError: relError[bi].mean, cosine: cosine[bi].mean }, noiseOnset, fit };
  });
  return { betas, noise, estimators };
}
