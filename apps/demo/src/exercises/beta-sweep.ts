import { fitLogLog, type Spread, spread } from '@eqprop/analysis';
import { recurrentBackpropReads } from '@eqprop/baselines';
import { type Batch, ConfigError, type Grads, type Reads, Rng, readOnce, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { createEstimator, disposeRelaxation, type EstimateRequest, type EstimatorKind } from '@eqprop/learning';
import type { Relaxation, Solver } from '@eqprop/solvers';

/** One β of the sweep; every number is relative to the true gradient's norm ‖g‖, per mini-batch. */
export interface SweepRow {
  beta: number;
  /** ‖ĝ − g‖ / ‖g‖ of the one-sided estimate: its bias, since it is deterministic given the batch. */
  oneSided: Spread;
  /** The same for the symmetric estimate. */
  symmetric: Spread;
  /** ‖E_s ĝ − g‖ / ‖g‖ of the random-sign estimate, E over its sign s = ±1 (each with probability ½). */
  randomSignBias: Spread;
  /** √(E_s ‖ĝ − E_s ĝ‖²) / ‖g‖: the standard deviation of the random-sign estimate over its sign. */
  randomSignStd: Spread;
}

export interface SweepResult {
  rows: SweepRow[];
  /**
   * The float32 noise coefficient n (per batch): the relative error of a one-sided estimate at a β
   * so tiny (`noiseBeta`) that its bias is nothing and rounding is everything, times that β. No
   * estimate at β can be closer than about n / β.
   */
  noise: Spread;
  batches: number;
  batchSize: number;
  /** Largest state change in the last free step, over the batches (the estimates are taken at s*). */
  freeResidual: number;
  /** Largest relative change of the adjoint in its last check (the true gradient's convergence). */
  adjointResidual: number;
}

export interface SweepOptions {
  /** Must be FixedPoint('synchronous') or GradientDescent(ε): recurrent backprop differentiates its step. */
  solver: Solver;
  betas: readonly number[];
  /** Most free steps from zero; the free phase stops once the largest change is ≤ `tol`. */
  freeSteps: number;
  tol: number;
  /** Every nudged phase runs this many steps (no early stop: a tolerance would cut tiny nudges short). */
  nudgedSteps: number;
  /** Default 1e-6. */
  noiseBeta?: number;
}

/**
 * EP's gradient estimates on the network's current weights against the true gradient, over a grid
 * of β (Laborieux et al. 2021, Fig. 2). Per mini-batch: one free phase to the equilibrium s*,
 * recurrent backprop's gradient there (the implicit gradient, @eqprop/baselines: computed by the
 * adjoint of the solver's own step, never by EP), then, per β, the nudged phases from s*.
 *
 * What varies is said honestly: the one-sided and symmetric estimates are deterministic given the
 * weights and the batch, so their error is their bias; the random-sign estimate is one-sided with
 * a random sign, whose two draws are computed and weighted exactly (½ each), which gives its bias
 * and its standard deviation. The spread over the mini-batches is reported as well (the error bars).
 *
 * A Reads program: one read per batch and β (synchronous on wasm, asynchronous on WebGPU).
 */
export function* betaSweepReads(net: EnergyNetwork, batches: readonly Batch[], opts: SweepOptions): Reads<SweepResult> {
  if (!opts.betas.length || opts.betas.some((b) => !(b > 0) || !Number.isFinite(b))) {
    throw new ConfigError(`β grid must hold positive numbers, got [${opts.betas}]`);
  }
  const noiseBeta = opts.noiseBeta ?? 1e-6;
  const perBatch: number[][][] = opts.betas.map(() => []); // [β][batch] → the four numbers of a row
  const noise: number[] = [];
  let freeResidual = 0;
  let adjointResidual = 0;
  for (const batch of batches) {
    const bound = net.bind(batch.x);
    const zeros = net.zeroState(batch.labels.length);
    try {
      const rbp = yield* recurrentBackpropReads(bound, batch.y, zeros, {
        solver: opts.solver,
        freeSteps: opts.freeSteps,
        tol: opts.tol,
        adjointSteps: 3000,
      });
      const free: Relaxation = { state: rbp.state, steps: rbp.freeSteps, meanSteps: rbp.freeSteps, residual: rbp.freeResidual, converged: true };
      const truth = flatten(rbp.grads);
      Object.values(rbp.grads).forEach((t) => t.dispose());
      try {
        freeResidual = Math.max(freeResidual, rbp.freeResidual);
        adjointResidual = Math.max(adjointResidual, rbp.adjointResidual);
        const req: EstimateRequest = {
          bound,
          y: batch.y,
          solver: opts.solver,
          init: zeros,
          free: { maxSteps: opts.freeSteps },
          nudged: { maxSteps: opts.nudgedSteps },
        };
        const tiny = yield* estimate(req, free, 'one-sided', noiseBeta);
        noise.push((yield* readOnce(tf.tidy(() => relativeTo(truth, [tiny]))))[0] * noiseBeta);
        tiny.dispose();
        for (const [i, beta] of opts.betas.entries()) {
          const plus = yield* estimate(req, free, 'one-sided', beta);
          // random sign drawn −1; drawn +1 it is the one-sided estimate above (RandomSignEstimator is OneSidedEstimator with a random draw)
          const minus = yield* estimate(req, free, 'random-sign', -beta);
          const sym = yield* estimate(req, free, 'symmetric', beta);
          const row = tf.tidy(() => {
            const mean = tf.div(tf.add(plus, minus), 2) as tf.Tensor1D;
            const spread = tf.div(tf.sub(plus, minus), 2); // ĝ − E ĝ is ±spread, each with probability ½
            return relativeTo(truth, [plus, sym, mean], spread);
          });
          perBatch[i].push(Array.from(yield* readOnce(row)));
          [plus, minus, sym].forEach((t) => t.dispose());
        }
      } finally {
        truth.dispose();
        disposeRelaxation(free);
      }
    } finally {
      zeros.forEach((t) => t.dispose());
      bound.dispose();
    }
  }
  const rows = opts.betas.map((beta, i): SweepRow => {
    const column = (j: number) => spread(perBatch[i].map((r) => r[j]));
    return { beta, oneSided: column(0), symmetric: column(1), randomSignBias: column(2), randomSignStd: column(3) };
  });
  return { rows, noise: spread(noise), batches: batches.length, batchSize: batches[0]?.labels.length ?? 0, freeResidual, adjointResidual };
}

/** One estimate of the given kind and signed β from the free equilibrium, as one flat vector (its other tensors freed). */
function* estimate(req: EstimateRequest, free: Relaxation, kind: EstimatorKind, beta: number): Reads<tf.Tensor1D> {
  // the draw (the signed β) is given, so the estimator never draws from its generator
  const est = yield* createEstimator(kind, { beta: Math.abs(beta), rng: new Rng(0) }).estimateFromReads(req, free, beta);
  est.nudged.forEach(disposeRelaxation);
  const flat = flatten(est.grads);
  Object.values(est.grads).forEach((t) => t.dispose());
  return flat;
}

/** All parameter gradients in one vector, in name order (so that two gradients line up). */
function flatten(grads: Grads): tf.Tensor1D {
  const names = Object.keys(grads).sort();
  return tf.tidy(() => tf.concat(names.map((n) => tf.reshape(grads[n], [-1]))) as tf.Tensor1D);
}

/** [‖e − g‖ / ‖g‖ for each estimate e, then ‖d‖ / ‖g‖ for each extra vector d], as one tensor (call inside tidy). */
function relativeTo(truth: tf.Tensor1D, estimates: tf.Tensor1D[], ...extra: tf.Tensor[]): tf.Tensor1D {
  const norm = tf.norm(truth);
  const errors = estimates.map((e) => tf.norm(tf.sub(e, truth)));
  return tf.div(tf.stack([...errors, ...extra.map((d) => tf.norm(d))]), norm) as tf.Tensor1D;
}

/** The log-log slope of a column over the rows with β in [lo, hi]: the order of the bias in β (NaN with < 2 points). */
export function logSlope(rows: readonly SweepRow[], pick: (r: SweepRow) => Spread, lo: number, hi: number): number {
  const use = rows.filter((r) => r.beta >= lo && r.beta <= hi);
  return (
    fitLogLog(
      use.map((r) => r.beta),
      use.map((r) => pick(r).mean),
    )?.slope ?? Number.NaN
  );
}
