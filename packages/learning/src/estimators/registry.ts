import { ConfigError, type Rng } from '@eqprop/core';
import { coupledFactory } from './coupled.js';
import type { Estimator } from './estimator.js';
import { FivePhaseEstimator } from './five-phase.js';
import { HolomorphicEstimator } from './holomorphic.js';
import { OneSidedEstimator } from './one-sided.js';
import { RandomSignEstimator } from './random-sign.js';
import { SymmetricEstimator } from './symmetric.js';

/** What `createEstimator` passes to a factory: β, the trainer's Rng, and any estimator's own options. */
export interface EstimatorOptions {
  /** The nudging strength |β| > 0. */
  beta: number;
  /** The trainer's Rng, for estimators that draw per batch (random-sign). */
  rng?: Rng;
  /** Holomorphic EP's N (also given by the name: `holomorphic-4`). */
  points?: number;
  [option: string]: unknown;
}

export type EstimatorFactory = (options: EstimatorOptions) => Estimator;

interface Entry {
  factory: EstimatorFactory;
  /** `name-N` is `name` with points N. */
  numbered: boolean;
}

const registry = new Map<string, Entry>();

/**
 * Makes an estimator available by name to the trainer, the data-parallel workers (import the
 * registering module in them through `setupModules`), the β sweep and the CLI's config validation.
 * `numbered`: the name also answers as `name-N`, with `points: N`.
 */
export function registerEstimator(name: string, factory: EstimatorFactory, opts: { numbered?: boolean } = {}): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || /-\d+$/.test(name))
    throw new ConfigError(`estimator name "${name}" must be lower-case words joined by "-" (not ending in a number)`);
  registry.set(name, { factory, numbered: opts.numbered ?? false });
}

/** The registered names, in registration order (`name-N` where a name takes points). */
export function estimatorNames(): string[] {
  return [...registry].flatMap(([name, e]) => (e.numbered ? [name, `${name}-N`] : [name]));
}

/** Whether `name` names a registered estimator (`holomorphic-4` included). */
export function isEstimatorName(name: string): boolean {
  return resolve(name) !== undefined;
}

/** One line naming the unknown estimator and every registered one, or nothing. */
export function checkEstimatorName(name: string): void {
  if (!isEstimatorName(name)) throw new ConfigError(`unknown estimator "${name}": expected one of ${estimatorNames().join(', ')}`);
}

export function createEstimator(name: string, options: EstimatorOptions): Estimator {
  checkEstimatorName(name);
  const { entry, points } = resolve(name)!;
  if (points !== undefined && options.points !== undefined && options.points !== points) {
    throw new ConfigError(`estimator "${name}" has ${points} points, but points: ${options.points} was given`);
  }
  return entry.factory(points === undefined ? options : { ...options, points });
}

function resolve(name: string): { entry: Entry; points?: number } | undefined {
  const entry = registry.get(name);
  if (entry) return { entry };
  const m = /^(.+)-(\d+)$/.exec(name);
  const base = m && registry.get(m[1]);
  return base?.numbered ? { entry: base, points: Number(m![2]) } : undefined;
}

registerEstimator('one-sided', ({ beta }) => new OneSidedEstimator(beta));
registerEstimator('symmetric', ({ beta }) => new SymmetricEstimator(beta));
registerEstimator('random-sign', ({ beta, rng }) => new RandomSignEstimator(beta, rng));
registerEstimator('five-phase', ({ beta }) => new FivePhaseEstimator(beta));
registerEstimator(
  'holomorphic',
  ({ beta, points, divergenceTol }) => new HolomorphicEstimator(beta, { points: points ?? 4, divergenceTol: divergenceTol as number | undefined }),
  { numbered: true },
);
registerEstimator('coupled', coupledFactory('coupled'));
registerEstimator('coupled-negative', coupledFactory('coupled-negative', 'negative'));
registerEstimator('coupled-centered', coupledFactory('coupled-centered', 'centered'));
