import { ConfigError } from '@eqprop/core';
import { FixedPoint, GradientDescent, type Solver } from '@eqprop/solvers';
import { FusedFixedPoint } from './fused-fixed-point.js';
import { FusedGradientDescent } from './fused-gradient-descent.js';
import { KernelTeam } from './kernel-team.js';

/** `tfjs`: tfjs ops only; `fused`: the fused path, or a ConfigError where it cannot run; `auto`: fused where it applies. */
export type KernelsMode = 'fused' | 'tfjs' | 'auto';
export const KERNELS_MODES: readonly KernelsMode[] = ['fused', 'tfjs', 'auto'];

/**
 * The solver that relaxes with the chosen kernels: a fixed-point or gradient-descent solver gets
 * the fused path (per batch it still hands networks it does not cover to tfjs ops, unless `fused`
 * is forced: then a ConfigError names the reason); other solvers have none yet. The fused path runs on `team`'s threads (default: one).
 */
export function withKernels(solver: Solver, mode: KernelsMode, team: KernelTeam = KernelTeam.single()): Solver {
  if (!KERNELS_MODES.includes(mode)) throw new ConfigError(`kernels must be one of ${KERNELS_MODES.join(', ')}, got "${mode}"`);
  if (mode === 'tfjs') return solver;
  if (solver instanceof FixedPoint) return new FusedFixedPoint(solver, mode, team);
  if (solver instanceof GradientDescent) return new FusedGradientDescent(solver, mode, team);
  if (mode === 'fused')
    throw new ConfigError(`kernels "fused": the ${solver.name} solver has no fused path (fixed-point and gradient descent only); use "auto" or "tfjs"`);
  return solver;
}
