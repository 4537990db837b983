import type { Preset } from './index.js';

/**
 * Ernoult et al. 2020, Equilibrium Propagation with Continual Weight Updates: continual EP (C-EP)
 * on the 784-512-10 prototypical MLP of MNIST, as Laborieux's reference script
 * `check/train_mnist_cep.sh` runs it (`--alg 'CEP'`; the same hyperparameters as the C-EP
 * command of Ernoult's `continualEP` README): mysig σ(x) = 1/(1+e^{−4(x−0.5)}), MSE, plain SGD
 * with one rate per layer (0.0056 for the input layer, 0.0028 for the output), no momentum or
 * weight decay, betas 0.0 and 0.2 (one-sided nudge), T1 = 40 free and T2 = 15 nudged steps,
 * minibatches of 20, 100 epochs. The weights move at every nudged step (`algorithm: 'cep'`).
 */
export const ernoult2020Cep: Record<string, Preset> = {
  'ernoult2020-cep': {
    description: 'Ernoult et al. 2020: continual EP (weights updated at every nudged step), 784-512-10 prototypical MLP (check/train_mnist_cep.sh)',
    model: { kind: 'mlp', sizes: [784, 512, 10], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' },
    trainer: {
      solver: { kind: 'fixed-point', schedule: 'synchronous' },
      freeSteps: 40,
      nudgedSteps: 15,
      estimator: 'one-sided',
      beta: 0.2,
      optimizer: { kind: 'sgd', lrs: [0.0056, 0.0028] },
      persistent: false,
    },
    algorithm: 'cep',
    data: { dataset: 'mnist', flatten: true },
    batchSize: 20,
    epochs: 100,
  },
};
