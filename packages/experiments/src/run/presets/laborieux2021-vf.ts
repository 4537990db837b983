import type { Preset } from './index.js';
import { laborieux2021 } from './laborieux2021.js';
import { cifar10 } from './laborieux2021-conv.js';

const mlp = laborieux2021['laborieux2021-mlp'];

/**
 * Laborieux et al. 2021's vector-field networks (their `VF_MLP` and `VF_CNN`): forward weights W
 * and bias-free backward weights B, each layer relaxing on its own primitive Φ_k, trained by EP's
 * difference applied to each Φ_k (or, `sameUpdate`, with B given W's update). Learning rates run
 * from the input to the output, one per layer; B shares its forward twin's rate (main.py puts
 * B_syn[i] in the group of lrs[i + 1]).
 */

/**
 * The README's "EP with different updates between forward and backward weights" on CIFAR-10:
 * python main.py --model 'VFCNN' --task 'CIFAR10' --data-aug --channels 128 256 512 512 --kernels 3 3 3 3
 * --pools 'mmmm' --strides 1 1 1 1 --paddings 1 1 1 0 --fc 10 --optim 'sgd' --lrs 0.25 0.15 0.1 0.08 0.05
 * --wds 3e-4 3e-4 3e-4 3e-4 3e-4 --mmt 0.9 --lr-decay --epochs 120 --act 'my_hard_sig' --T1 250 --T2 30
 * --mbs 128 --alg 'EP' --betas 0.0 1.0 --thirdphase --loss 'cel' --softmax
 */
const vfCifar10: Preset = {
  ...cifar10,
  description: 'Laborieux et al. 2021: vector-field 128-256-512-512 convnet on CIFAR-10 (VFCNN), clip(x/2,0,1), symmetric β 1, CE readout',
  model: { ...cifar10.model, kind: 'vf-conv' },
  trainer: { ...cifar10.trainer, nudgedSteps: 30 },
};

export const laborieux2021Vf: Record<string, Preset> = {
  'laborieux2021-vf-cifar10': vfCifar10,
  // the README's "EP with same update between forward and backward weights": the same command with --same-update
  'laborieux2021-vf-cifar10-same-update': {
    ...vfCifar10,
    description: 'Laborieux et al. 2021: the vector-field CIFAR-10 convnet with the same update for B as for W (--same-update)',
    model: { ...vfCifar10.model, sameUpdate: true },
  },
  // No script of the reference runs the VF MLP; its README lists --model 'VFMLP'. These are the
  // hyper-parameters of its MLP script, check/train_mnist.sh, with that model:
  // python main.py --model 'VFMLP' --task 'MNIST' --archi 784 512 10 --optim 'adam' --lrs 5e-4 5e-4
  // --epochs 2 --act 'mysig' --betas 0.0 0.1 --T1 30 --T2 10 --mbs 50 (loss mse by default)
  'laborieux2021-vf-mnist': {
    ...mlp,
    description: 'Laborieux et al. 2021: vector-field 784-512-10 MLP (VFMLP) on MNIST, one-sided β 0.1 (the hyper-parameters of check/train_mnist.sh)',
    model: { ...mlp.model, kind: 'vf-mlp' },
    trainer: { ...mlp.trainer, optimizer: { kind: 'adam', lrs: [5e-4, 5e-4] } },
  },
};
