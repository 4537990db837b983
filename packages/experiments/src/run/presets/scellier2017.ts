import type { Preset } from './index.js';

const mnist = { dataset: 'mnist', flatten: true } as const;

/**
 * As the authors' reference code runs them: C = ‖s − y‖² (costWeight 1) and, for one hidden
 * layer, β 0.5 — the nudged equilibrium of the paper's β 1 on C = ½‖s − y‖², with the code's
 * update (ΔE/β, learning rates as given). Deeper nets use β 1 in the code too. The code also
 * keeps persistent particles for the test set (its "validation" set): each evaluation relaxes an
 * example from where the previous one left it (persistentEval).
 */
function layered(sizes: number[], free: number, nudged: number, lrs: number[], epochs: number, description: string, beta = 1.0): Preset {
  return {
    description,
    model: { kind: 'mlp', sizes, activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse', costWeight: 1, init: 'glorot' },
    trainer: {
      solver: { kind: 'gradient-descent', stepSize: 0.5 },
      freeSteps: free,
      nudgedSteps: nudged,
      estimator: 'random-sign',
      beta,
      optimizer: { kind: 'sgd', lrs },
      persistent: true,
      persistentEval: true,
    },
    data: mnist,
    batchSize: 20,
    epochs,
  };
}

/** Scellier & Bengio 2017, Equilibrium Propagation, Table 1 (MNIST). */
export const scellier2017: Record<string, Preset> = {
  'scellier2017-1h': layered([784, 500, 10], 20, 4, [0.1, 0.05], 25, 'Scellier & Bengio 2017: 784-500-10 layered Hopfield net', 0.5),
  'scellier2017-2h': layered([784, 500, 500, 10], 100, 6, [0.4, 0.1, 0.01], 60, 'Scellier & Bengio 2017: 784-500-500-10'),
  'scellier2017-3h': layered([784, 500, 500, 500, 10], 500, 8, [0.128, 0.032, 0.008, 0.002], 160, 'Scellier & Bengio 2017: 784-500-500-500-10'),
};
