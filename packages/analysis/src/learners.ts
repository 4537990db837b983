import { BpttEstimator, ChlEstimator, RbpEstimator } from '@eqprop/baselines';
import { type Batch, ConfigError } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { type BatchResult, type EvalResult, Trainer, type TrainerConfig, type TrainerOptions } from '@eqprop/learning';
import { SourceTrainer } from './source-trainer.js';
import { TwinTrainer } from './twin-trainer.js';

export const LEARNERS = ['ep', 'bp', 'bptt', 'rbp', 'chl'] as const;
export type LearnerKind = (typeof LEARNERS)[number];

export const LEARNER_NAMES: Record<LearnerKind, string> = {
  ep: 'EP',
  bp: 'backprop (feedforward twin)',
  bptt: 'BPTT',
  rbp: 'recurrent backprop',
  chl: 'contrastive Hebbian',
};

const RBP_MIN_FREE_STEPS = 1000;
const RBP_TOL = 1e-5;

/** What a comparison trains: one batch at a time, then an evaluation. */
export interface Learner {
  readonly kind: LearnerKind;
  trainBatch(batch: Batch, lrScale?: number): BatchResult;
  evaluate(batches: Iterable<Batch>): EvalResult;
  dispose(): void;
}

/**
 * A learner for `net` with the EP trainer's config, so that every algorithm starts from the
 * network's current weights with the same optimizer and learning rates:
 *  - ep: Equilibrium Propagation (the config's estimator and β);
 *  - bp: the feedforward twin, trained by autodiff;
 *  - bptt: BPTT through the last K = nudgedSteps of the T = freeSteps free steps;
 *  - rbp: recurrent backprop (the implicit gradient) at the free fixed point, relaxed until its
 *    largest change is ≤ tol (default 1e-5), at most max(10 T, 1000) steps; an adjoint that has
 *    not converged after its 1000 steps gives its truncated sum (truncated RBP);
 *  - chl: contrastive Hebbian learning, a clamped phase of T steps after the free phase.
 * bptt, rbp and chl keep EP's free phase, particles and evaluation (SourceTrainer).
 */
export function makeLearner(kind: LearnerKind, net: EnergyNetwork, config: TrainerConfig, opts: TrainerOptions): Learner {
  const { freeSteps, nudgedSteps, tol } = config;
  const tag = <T extends object>(t: T) => Object.assign(t, { kind });
  switch (kind) {
    case 'ep':
      return tag(new Trainer(net, config, opts));
    case 'bp':
      return tag(new TwinTrainer(net, config.optimizer));
    case 'bptt':
      return tag(new SourceTrainer(net, config, opts, (solver) => new BpttEstimator(solver, freeSteps, nudgedSteps)));
    case 'rbp':
      // the implicit gradient needs the fixed point itself: relax until the state stops moving
      return tag(
        new SourceTrainer(
          net,
          config,
          opts,
          (solver) => new RbpEstimator({ solver, freeSteps: Math.max(RBP_MIN_FREE_STEPS, 10 * freeSteps), tol: tol ?? RBP_TOL, strict: false }),
        ),
      );
    case 'chl':
      return tag(new SourceTrainer(net, config, opts, (solver) => new ChlEstimator({ solver, freeSteps, clampedSteps: freeSteps, tol })));
    default:
      throw new ConfigError(`unknown learner "${kind as string}": expected one of ${LEARNERS.join(', ')}`);
  }
}

/** Parses "bp,bptt" into learner kinds, naming any unknown one. */
export function parseLearners(list: string): LearnerKind[] {
  const kinds = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const k of kinds) {
    if (!(LEARNERS as readonly string[]).includes(k))
      throw new ConfigError(`unknown baseline "${k}": expected a comma-separated list of ${LEARNERS.filter((l) => l !== 'ep').join(', ')}`);
  }
  if (!kinds.length) throw new ConfigError(`expected a comma-separated list of ${LEARNERS.filter((l) => l !== 'ep').join(', ')}, got "${list}"`);
  return [...new Set(kinds)] as LearnerKind[];
}
