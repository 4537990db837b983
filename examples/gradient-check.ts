/**
 * The gradient check a researcher runs first: Equilibrium Propagation's gradient of a tiny network
 * at weights given as plain arrays, against the true gradient (recurrent backprop at the free
 * fixed point), with the public API only. The user code is the lines between the markers
 * (gradient-check.test.ts counts them: at most 25).
 *
 *   pnpm --filter @eqprop/examples test     (runs it through gradient-check.test.ts)
 */
// --- user code begins

import { trueGradient } from '@eqprop/baselines';
import { compareGrads, Rng, setupBackend, tf } from '@eqprop/core';
import { createEstimator, disposeRelaxation } from '@eqprop/learning';
import { layeredMlp, setParamsFromArrays } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';

/** EP's symmetric estimate (±β) of ∂L/∂θ at `weights` against the true gradient: cosine and relative error. */
export async function gradientCheck(weights: Record<string, number[]>, beta = 0.01) {
  await setupBackend('wasm');
  const net = layeredMlp({ kind: 'mlp', sizes: [3, 4, 2], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse' }, new Rng(0));
  setParamsFromArrays(net, weights); // every parameter by name: W0_1 [3, 4], b1 [4], W1_2 [4, 2], b2 [2]
  const x = tf.tensor2d([0.2, 0.9, 0.4, 0.7, 0.1, 0.5], [2, 3]); // two examples
  const y = tf.tensor2d([1, 0, 0, 1], [2, 2]); // their one-hot targets
  const solver = new FixedPoint('synchronous');
  const phase = { maxSteps: 500, tol: 1e-7 };
  const truth = trueGradient(net, { x, y }, { solver, freeSteps: 500, tol: 1e-7 });
  const bound = net.bind(x);
  const init = net.zeroState(2);
  const ep = createEstimator('symmetric', { beta }).estimate({ bound, y, solver, init, free: phase, nudged: phase });
  const agreement = compareGrads(ep.grads, truth.grads);
  // the caller owns every tensor an estimate returns: gradients, the free and the nudged states
  [ep.free, ...ep.nudged].forEach(disposeRelaxation);
  tf.dispose([...Object.values(ep.grads), ...Object.values(truth.grads), ...Object.values(net.params), ...init, x, y]);
  bound.dispose();
  return { ...agreement, converged: truth.converged && ep.free.converged };
}
// --- user code ends
