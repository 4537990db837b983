import type { Preset } from './index.js';

/**
 * Vinayak & Srinivasan 2025, Scaling Equilibrium Propagation to Deeper Neural Network
 * Architectures (arXiv 2509.26003; ICEdge 2025): Hopfield-ResNet13 on CIFAR-10, 93.92 % test
 * accuracy reported. The numbers are those of the authors' code
 * (github.com/BrainSeek-Lab/Scaling-Equilibrium-Propagation-to-Deeper-Neural-Network-Architectures,
 * EquiProp/dhcnresnet.py, its README's run command `--dataset CIFAR10 --epochs 300` and the
 * "best found" CIFAR-10 values of its flags): ConvHopfieldResEnergy32 with channels 128, 256, 512,
 * 512 (3×3 convolutions padded by 1, the second of each block of stride 2, 1×1 stride-2 skips
 * i → i + 2), ReLU6 hidden layers, a linear output layer, MSE; weight gains 0.6 (convolutions),
 * 0.7 (skips), 0.8 (dense head) on U(±1/√fan_in), biases U(±0.5/√(9·channels)); centered EP
 * (±β) with β 0.1; 120 free ("inference") and 50 nudged iterations, each an odd-then-even
 * half-step (FixedPointMinimizer 'asynchronous'); SGD, lr 0.03 for every weight and bias,
 * momentum 0.9, weight decay 2.5e-4, cosine annealing; minibatches of 128; 300 epochs.
 *
 * Where eqprop lacks what that code does, the preset differs, and says so in its description:
 * heavy-ball momentum for the code's Nesterov momentum; a cosine schedule to 0 for
 * CosineAnnealingLR(eta_min = 2e-6); flips and zero-padded 4-pixel crops for the code's
 * RandomHorizontalFlip, RandAugment(3 ops, magnitude 9) and edge-padded RandomCrop; inputs in
 * [0, 1] for its Normalize(mean, 3·std); each batch's free phase from zero, where the code starts
 * it from the state the previous batch left (`set_input(x, reset=False)`; eqprop's persistent
 * particles keep one state per example instead).
 */
export const hopfieldResnetPresets: Record<string, Preset> = {
  'hopfield-resnet13-cifar10': {
    description:
      'Vinayak & Srinivasan 2025 (arXiv 2509.26003): Hopfield-ResNet13 on CIFAR-10, 93.92 % reported; 128-256-512-512 blocks with 1×1 stride-2 skips, ReLU6, MSE, centered EP β 0.1, T1 120 / T2 50, SGD 0.03, 300 epochs. Unlike the paper: heavy-ball (not Nesterov) momentum, cosine to 0 (not 2e-6), no RandAugment, zero- (not edge-) padded crops, no input normalisation, free phase from zero (not the previous batch’s state)',
    model: {
      kind: 'resnet',
      inputShape: [32, 32, 3],
      channels: [128, 256, 512, 512],
      kernel: 3,
      classes: 10,
      activation: 'relu6',
      cost: 'mse',
      form: 'primitive',
      init: 'fan-in',
      gains: { conv: 0.6, skip: 0.7, dense: 0.8, bias: 0.5 },
    },
    trainer: {
      solver: { kind: 'fixed-point', schedule: 'alternating' },
      freeSteps: 120,
      nudgedSteps: 50,
      estimator: 'symmetric',
      beta: 0.1,
      // one rate per layer (9 groups: 8 ReLU6 layers and the output), every one the code's 3e-2
      optimizer: { kind: 'momentum', lrs: [0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03], momentum: 0.9, weightDecay: 2.5e-4 },
      persistent: false,
    },
    data: { dataset: 'cifar10', flatten: false, augment: { cropPad: 4, flip: true } },
    batchSize: 128,
    evalBatchSize: 128,
    epochs: 300,
    lrSchedule: 'cosine',
  },
};
