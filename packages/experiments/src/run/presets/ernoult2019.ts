import type { Preset } from './index.js';

/**
 * Ernoult et al. 2019, Updates of Equilibrium Prop Match Gradients of Backprop Through Time in an
 * RNN with Static Input (MNIST, fully connected). Prototypical models (`-pNh`): the primitive
 * form with the discrete dynamics s_{t+1} = σ(∂Φ/∂s_t) (synchronous fixed point); energy-based
 * model (`-eb1h`): the Hopfield energy relaxed by Euler steps of dt = 0.2. Both with
 * σ(x) = 1/(1+e^{−4(x−0.5)}), MSE, plain SGD with one rate per layer (input to output), a fixed
 * positive β (one-sided EP), T free steps from zero (no persistent particles) and K nudged steps;
 * `--algorithm bptt` trains the same network by BPTT through the last K of the T steps.
 */
function prototypical(sizes: number[], T: number, K: number, beta: number, lrs: number[], epochs: number): Preset {
  return {
    description: `Ernoult et al. 2019: ${sizes.join('-')} prototypical RNN, discrete dynamics, T ${T}, K ${K}, β ${beta}`,
    model: { kind: 'mlp', sizes, activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' },
    trainer: {
      solver: { kind: 'fixed-point', schedule: 'synchronous' },
      freeSteps: T,
      nudgedSteps: K,
      estimator: 'one-sided',
      beta,
      optimizer: { kind: 'sgd', lrs },
      persistent: false,
    },
    data: { dataset: 'mnist', flatten: true },
    batchSize: 20,
    epochs,
  };
}

export const ernoult2019: Record<string, Preset> = {
  'ernoult2019-p1h': prototypical([784, 512, 10], 40, 15, 0.1, [0.08, 0.04], 30),
  'ernoult2019-p2h': prototypical([784, 512, 512, 10], 100, 20, 0.5, [0.2, 0.05, 0.005], 50),
  'ernoult2019-p3h': prototypical([784, 512, 512, 512, 10], 180, 20, 0.5, [0.2, 0.05, 0.01, 0.002], 100),
  'ernoult2019-eb1h': {
    description: 'Ernoult et al. 2019: 784-512-10 energy-based RNN, Euler steps dt 0.2, T 100, K 12, β 0.5',
    model: { kind: 'mlp', sizes: [784, 512, 10], activation: 'ernoult-sigmoid', form: 'hopfield', cost: 'mse', init: 'fan-in' },
    trainer: {
      solver: { kind: 'gradient-descent', stepSize: 0.2 },
      freeSteps: 100,
      nudgedSteps: 12,
      estimator: 'one-sided',
      beta: 0.5,
      optimizer: { kind: 'sgd', lrs: [0.1, 0.05] },
      persistent: false,
    },
    data: { dataset: 'mnist', flatten: true },
    batchSize: 20,
    epochs: 30,
  },
};
