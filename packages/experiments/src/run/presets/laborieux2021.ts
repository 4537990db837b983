import type { Preset } from './index.js';

/**
 * Laborieux et al. 2021, the fully connected network of their MNIST experiments, as their
 * reference script runs it: betas 0.0 and 0.1 without random sign, i.e. one-sided EP.
 */
export const laborieux2021: Record<string, Preset> = {
  'laborieux2021-mlp': {
    description: 'Laborieux et al. 2021: 784-512-10 prototypical MLP, fixed-point dynamics',
    model: { kind: 'mlp', sizes: [784, 512, 10], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' },
    trainer: {
      solver: { kind: 'fixed-point', schedule: 'synchronous' },
      freeSteps: 30,
      nudgedSteps: 10,
      estimator: 'one-sided',
      beta: 0.1,
      optimizer: { kind: 'adam', lrs: [5e-4] },
      persistent: false,
    },
    data: { dataset: 'mnist', flatten: true },
    batchSize: 50,
    epochs: 2,
  },
};
