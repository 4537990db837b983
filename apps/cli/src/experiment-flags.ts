import { cpus } from 'node:os';
import { ConfigError } from '@eqprop/core';
import type { RunConfig } from '@eqprop/experiments';
import { numberFlag } from './args.js';
import { resolveConfig, TRAIN_OPTIONS } from './commands/train.js';

/** The flags `compare` and `sweep` share with `train` (preset, config file, model, trainer, data), plus their own. */
export const EXPERIMENT_OPTIONS = {
  ...TRAIN_OPTIONS,
  'points-per-epoch': { type: 'string' },
} as const;

export const EXPERIMENT_HELP = `  --preset NAME  --config FILE   the run to start from (as for eqprop train)
  --epochs N  --batch-size N  --seed N  --train-limit N  --test-limit N  --max-batches N
  --layers, --lr, --optimizer, --beta, --estimator, --free-steps, --nudged-steps, --step-size, --nudge-at,
  --solver, --schedule, --no-persistent, --eval-steps, --tol, --tol-per-example, --no-predict-stops, --data-dir, --backend: as for train
  --workers N            worker processes (default: one per core)
  --out DIR              output folder`;

export type Flags = Record<string, string | boolean | undefined>;

/**
 * The run config of an experiment: the preset and `train`'s flags, with `defaults` filling in
 * what the user did not give (a sweep's short budget). `--workers` is the experiment's own.
 */
export function experimentConfig(flags: Flags, defaults: Flags = {}): RunConfig {
  const merged: Flags = { ...flags };
  for (const [k, v] of Object.entries(defaults)) if (merged[k] === undefined) merged[k] = v;
  delete merged.workers;
  delete merged.out;
  delete merged['points-per-epoch'];
  return resolveConfig(merged);
}

/** --workers, default one per core. */
export function workerCount(flags: Flags): number {
  const n = numberFlag('workers', flags.workers) ?? cpus().length;
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--workers must be a positive integer, got ${flags.workers}`);
  return n;
}

/** A positive integer flag, or its default. */
export function intFlag(flags: Flags, name: string, fallback: number): number {
  const n = numberFlag(name, flags[name]) ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${name} must be a positive integer, got ${flags[name]}`);
  return n;
}
