import type { Preset } from './index.js';

/**
 * Convolutional EP in the primitive form with fixed-point dynamics s = σ(∂Φ/∂s): Ernoult et al.
 * 2019's MNIST convnet and Laborieux et al. 2021's symmetric nudging with a cross-entropy readout.
 * Learning rates are per parameter group, from input to output: one per conv layer, then the
 * dense layer or the readout.
 */
const mnistConv = {
  kind: 'conv',
  inputShape: [28, 28, 1],
  channels: [32, 64],
  kernels: [5],
  paddings: [0],
  pools: ['max'],
  poolSizes: [2],
  dense: [10],
  activation: 'hard-sigmoid',
  form: 'primitive',
  init: 'fan-in',
};

const ernoult2019Conv: Preset = {
  description: 'Ernoult et al. 2019: 1-32-64-10 convnet (5×5, 2×2 max-pool), MSE, one-sided β 0.4',
  model: { ...mnistConv, cost: 'mse' },
  trainer: {
    solver: { kind: 'fixed-point', schedule: 'synchronous' },
    freeSteps: 200,
    nudgedSteps: 10,
    estimator: 'one-sided',
    beta: 0.4,
    optimizer: { kind: 'sgd', lrs: [0.15, 0.035, 0.015] },
    persistent: false,
  },
  data: { dataset: 'mnist', flatten: false },
  batchSize: 20,
  evalBatchSize: 500,
  epochs: 40,
};

/** Laborieux et al. 2021's CIFAR-10 command (the README's symmetric EP with the cross-entropy loss). */
export const cifar10: Preset = {
  description: 'Laborieux et al. 2021: 128-256-512-512 convnet on CIFAR-10, clip(x/2,0,1), symmetric β 1, CE readout',
  model: {
    kind: 'conv',
    inputShape: [32, 32, 3],
    channels: [128, 256, 512, 512],
    kernels: [3],
    paddings: [1, 1, 1, 0],
    pools: ['max'],
    poolSizes: [2],
    dense: [10],
    activation: 'half-clip',
    cost: 'ce',
    form: 'primitive',
    init: 'fan-in',
  },
  trainer: {
    solver: { kind: 'fixed-point', schedule: 'synchronous' },
    freeSteps: 250,
    nudgedSteps: 25,
    estimator: 'symmetric',
    beta: 1.0,
    optimizer: { kind: 'momentum', lrs: [0.25, 0.15, 0.1, 0.08, 0.05], momentum: 0.9, weightDecay: 3e-4 },
    persistent: false,
  },
  data: { dataset: 'cifar10', flatten: false, augment: { cropPad: 4, flip: true } },
  batchSize: 128,
  evalBatchSize: 128,
  epochs: 120,
  lrSchedule: 'cosine',
};

export const laborieux2021Conv: Record<string, Preset> = {
  'ernoult2019-conv': ernoult2019Conv,
  'laborieux2021-mnist': {
    ...ernoult2019Conv,
    description: 'Laborieux et al. 2021: the same convnet with symmetric nudging (±β 0.4) and a CE readout',
    model: { ...mnistConv, cost: 'ce' },
    trainer: { ...ernoult2019Conv.trainer, estimator: 'symmetric' },
  },
  'laborieux2021-cifar10': cifar10,
  // The master README's "EP with symmetric gradient estimate and dropout" command (main_dropout.py):
  // the CIFAR-10 command with `--dropouts 1.0 1.0 1.0 0.9 1.0`, keep probabilities of the input and
  // the four conv layers; here drop probabilities, masks drawn once per batch inside the energy.
  'laborieux2021-cifar10-dropout': {
    ...cifar10,
    description: 'Laborieux et al. 2021: the CIFAR-10 convnet with dropout inside the energy (drop 0.1 on the third conv layer), masks shared by every phase',
    model: { ...cifar10.model, dropout: [0, 0, 0, 0.1, 0] },
  },
};
