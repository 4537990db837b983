// Each preset against the hyperparameters its paper publishes, written here in the authors' own
// terms (their tables, and the command lines or scripts of their reference code that reproduce
// them), and translated explicitly where the conventions differ: Ernoult et al. list learning
// rates and layer sizes from the output to the input (ours run from the input), Scellier &
// Bengio's code nudges with β on ‖s − y‖² where the paper writes β on ½‖s − y‖². A preset literal
// is never compared with a copy of itself.

import { Rng, setupBackend, tf } from '@eqprop/core';
import { activationByName, relu6 } from '@eqprop/energies';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeConfig, type RunConfig, validateConfig } from '../config.js';
import { getPreset } from './index.js';
import { flags, numbers } from './reference-flags.test-util.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

/** The preset, validated as `eqprop train` validates it. */
const preset = (name: string): RunConfig => validateConfig(getPreset(name));

/**
 * The force the nudge puts on the output layer, −β·∂C/∂s_out, of the preset's own cost (built by
 * buildModel, on a small net of the same kind), for an output `s` and a target `y`.
 */
function nudgeForce(config: RunConfig, s: number[][], y: number[][]): number[][] {
  const model = mergeConfig(config.model, { sizes: [3, 4, s[0].length] }) as ModelConfig;
  const net = buildModel(model, new Rng(1));
  const force = tf.tidy(() => tf.mul(config.trainer.beta, net.cost.nudgeField(tf.tensor2d(s), tf.tensor2d(y), undefined as never)).arraySync() as number[][]);
  Object.values(net.params).forEach((p) => p.dispose());
  return force;
}

const S = [
  [0.2, 0.9, 0.4],
  [0.7, 0.1, 1.0],
];
const Y = [
  [0, 1, 0],
  [1, 0, 0],
];
/** β·(y − s): the force of β on C = ½‖s − y‖². */
const halfSquareForce = (beta: number) => S.map((row, i) => row.map((v, j) => beta * (Y[i][j] - v)));

/** The activation a preset names, against the reference code's formula at points across and beyond [0, 1]. */
function expectActivation(name: string, reference: (x: number) => number): void {
  const a = activationByName(name);
  for (let x = -1.5; x <= 2.5; x += 0.125) expect(a.scalar(x)).toBeCloseTo(reference(x), 12);
}
const clip = (x: number) => Math.min(1, Math.max(0, x));

describe('scellier2017-*: Scellier & Bengio 2017', () => {
  // Table 1 (MNIST, minibatches of 20): architecture, iterations of the free and weakly clamped
  // phases, ε, β, learning rates α_k and epochs, as the preset file documents them; β multiplies
  // C = ½‖s − y‖² (Section 2).
  const TABLE_1 = {
    'scellier2017-1h': { sizes: [784, 500, 10], free: 20, weak: 4, epsilon: 0.5, beta: 1, alphas: [0.1, 0.05], epochs: 25 },
    'scellier2017-2h': { sizes: [784, 500, 500, 10], free: 100, weak: 6, epsilon: 0.5, beta: 1, alphas: [0.4, 0.1, 0.01], epochs: 60 },
    'scellier2017-3h': { sizes: [784, 500, 500, 500, 10], free: 500, weak: 8, epsilon: 0.5, beta: 1, alphas: [0.128, 0.032, 0.008, 0.002], epochs: 160 },
  };
  // The reference code, github.com/bscellier/Towards-a-Biologically-Plausible-Backprop,
  // train_model.py (net1, net2, net3); model.py: C = ((s − y)²).sum(), F = E + β·C, ΔW = −α·∂(E(s^β) − E(s^0))/β.
  const REFERENCE_CODE = {
    'scellier2017-1h': { hidden_sizes: [500], n_epochs: 25, batch_size: 20, n_it_neg: 20, n_it_pos: 4, epsilon: 0.5, beta: 0.5, alphas: [0.1, 0.05] },
    'scellier2017-2h': { hidden_sizes: [500, 500], n_epochs: 60, batch_size: 20, n_it_neg: 150, n_it_pos: 6, epsilon: 0.5, beta: 1, alphas: [0.4, 0.1, 0.01] },
    'scellier2017-3h': {
      hidden_sizes: [500, 500, 500],
      n_epochs: 500,
      batch_size: 20,
      n_it_neg: 500,
      n_it_pos: 8,
      epsilon: 0.5,
      beta: 1,
      alphas: [0.128, 0.032, 0.008, 0.002],
    },
  };

  it.each(Object.keys(TABLE_1) as (keyof typeof TABLE_1)[])('%s has the architecture, phases, ε, rates and epochs of Table 1', (name) => {
    const c = preset(name);
    const paper = TABLE_1[name];
    const code = REFERENCE_CODE[name];
    expect(c.model).toMatchObject({ kind: 'mlp', sizes: paper.sizes, form: 'hopfield', activation: 'hard-sigmoid', cost: 'mse' });
    expect([784, ...code.hidden_sizes, 10]).toEqual(paper.sizes);
    // ε: the step of the gradient descent on F (the code's epsilon)
    expect(c.trainer.solver).toEqual({ kind: 'gradient-descent', stepSize: paper.epsilon });
    expect(code.epsilon).toBe(paper.epsilon);
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps]).toEqual([paper.free, paper.weak]);
    expect(c.trainer.optimizer).toEqual({ kind: 'sgd', lrs: paper.alphas });
    expect(code.alphas).toEqual(paper.alphas);
    expect([c.batchSize, c.epochs]).toEqual([code.batch_size, paper.epochs]);
    // where the code's script differs from Table 1, the preset follows the table
    if (name === 'scellier2017-2h') expect([code.n_it_neg, c.trainer.freeSteps]).toEqual([150, 100]);
    if (name === 'scellier2017-3h') expect([code.n_epochs, c.epochs]).toEqual([500, 160]);
  });

  it.each(Object.keys(TABLE_1) as (keyof typeof TABLE_1)[])(
    '%s runs EP as the reference code does: random sign of β, persistent particles, Glorot init, ρ = clip(s, 0, 1)',
    (name) => {
      const c = preset(name);
      // train_model.py: sign = 2·randint(0, 2) − 1 per minibatch
      expect(c.trainer.estimator).toBe('random-sign');
      // model.py: persistent_particles for every example, the test set ("valid") included
      expect([c.trainer.persistent, c.trainer.persistentEval]).toEqual([true, true]);
      // model.py initialize_layer: uniform in ±√(6 / (n_in + n_out))
      expect(c.model.init).toBe('glorot');
      expectActivation(c.model.activation as string, clip); // model.py rho: T.clip(s, 0, 1)
    },
  );

  it('scellier2017-1h: β 0.5 on ‖s − y‖² (costWeight 1, the code) is the paper’s β 1 on ½‖s − y‖²: the same force on the output', () => {
    const c = preset('scellier2017-1h');
    expect([c.trainer.beta, c.model.costWeight]).toEqual([REFERENCE_CODE['scellier2017-1h'].beta, 1]);
    expect(nudgeForce(c, S, Y)).toEqual(halfSquareForce(TABLE_1['scellier2017-1h'].beta).map((r) => r.map((v) => expect.closeTo(v, 7))));
  });

  it.each(['scellier2017-2h', 'scellier2017-3h'] as const)(
    '%s: β 1 on ‖s − y‖², as the code runs the deeper nets (twice the force of the paper’s β 1 on ½‖s − y‖²)',
    (name) => {
      const c = preset(name);
      expect([c.trainer.beta, c.model.costWeight]).toEqual([REFERENCE_CODE[name].beta, 1]);
      expect(nudgeForce(c, S, Y)).toEqual(halfSquareForce(2 * TABLE_1[name].beta).map((r) => r.map((v) => expect.closeTo(v, 7))));
    },
  );
});

describe('ernoult2019-*: Ernoult et al. 2019', () => {
  // github.com/ernoult/updatesEPgradientsBPTT, README, "Table 1 (training simulation results)":
  // the commands that produce each row. --size_tab and --lr_tab run from the output layer to the
  // input ("--lr_tab 0.01 0.04 will apply a learning rate of 0.01 to W_{01} and 0.04 to W_{12}").
  const TABLE_1: Record<string, string> = {
    'ernoult2019-eb1h': "python main.py --action 'train' --size_tab 10 512 784 --lr_tab 0.05 0.1 --epochs 30 --T 100 --Kmax 12 --beta 0.5 --dt 0.2 --benchmark",
    'ernoult2019-p1h':
      "python main.py --action 'train' --discrete --size_tab 10 512 784 --lr_tab 0.04 0.08 --epochs 30 --T 40 --Kmax 15 --beta 0.1 --benchmark",
    'ernoult2019-p2h':
      "python main.py --action 'train' --discrete --size_tab 10 512 512 784 --lr_tab 0.005 0.05 0.2 --epochs 50 --T 100 --Kmax 20 --beta 0.5 --benchmark",
    'ernoult2019-p3h':
      "python main.py --action 'train' --discrete --size_tab 10 512 512 512 784 --lr_tab 0.002 0.01 0.05 0.2 --epochs 100 --T 180 --Kmax 20 --beta 0.5 --benchmark",
    'ernoult2019-conv':
      "python main.py --action 'train' --activation-function 'hardsigm' --C_tab 64 32 1 --size_tab 10 --lr_tab 0.015 0.035 0.15 --epochs 40 --T 200 --Kmax 10 --beta 0.4 --benchmark",
  };
  // main.py's defaults for what the commands leave out
  const DEFAULTS: Record<string, string[]> = { 'batch-size': ['20'], dt: ['0.2'], 'activation-function': ['sigm'], padding: ['0'], Fconv: ['5'], Fpool: ['2'] };
  // main.py: 'sigm' is 1/(1 + e^{−4(x − 0.5)}), 'hardsigm' is x.clamp(0, 1)
  const RHO: Record<string, [string, (x: number) => number]> = {
    sigm: ['ernoult-sigmoid', (x) => 1 / (1 + Math.exp(-4 * (x - 0.5)))],
    hardsigm: ['hard-sigmoid', clip],
  };

  it.each(Object.keys(TABLE_1))('%s is the command of its Table 1 row', (name) => {
    const c = preset(name);
    const f = { ...DEFAULTS, ...flags(TABLE_1[name]) };
    const [T, K, beta, epochs, batch] = [f.T, f.Kmax, f.beta, f.epochs, f['batch-size']].map((v) => Number(v[0]));
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.trainer.beta, c.epochs, c.batchSize]).toEqual([T, K, beta, epochs, batch]);
    // input to output here
    expect(c.trainer.optimizer).toEqual({ kind: 'sgd', lrs: numbers(f.lr_tab).reverse() });
    // EP with a fixed positive β, from states at zero for every minibatch (netClasses initHidden)
    expect([c.trainer.estimator, c.trainer.persistent]).toEqual(['one-sided', false]);
    const [activation, rho] = RHO[f['activation-function'][0]];
    expect(c.model.activation).toBe(activation);
    expectActivation(activation, rho);
    if (f.C_tab) {
      // C_tab 64 32 1: channels from the classifier back to the one-channel 28×28 input; 5×5 kernels, no padding, 2×2 max-pooling
      const channels = numbers(f.C_tab).reverse();
      expect(c.model).toMatchObject({
        kind: 'conv',
        inputShape: [28, 28, channels[0]],
        channels: channels.slice(1),
        kernels: numbers(f.Fconv),
        paddings: numbers(f.padding),
        pools: ['max'],
        poolSizes: numbers(f.Fpool),
        dense: numbers(f.size_tab).reverse(),
        form: 'primitive',
      });
      expect(c.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'synchronous' });
    } else if (f.discrete) {
      // prototypical: s_{t+1} = σ(∂Φ/∂s), all layers at once
      expect(c.model).toMatchObject({ kind: 'mlp', sizes: numbers(f.size_tab).reverse(), form: 'primitive' });
      expect(c.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'synchronous' });
    } else {
      // energy-based: Euler steps of dt on the Hopfield energy, states clamped to [0, 1]
      expect(c.model).toMatchObject({ kind: 'mlp', sizes: numbers(f.size_tab).reverse(), form: 'hopfield' });
      expect(c.trainer.solver).toEqual({ kind: 'gradient-descent', stepSize: Number(f.dt[0]) });
    }
    // netClasses stepper: dsdt[0] += β·(target − s[0]), the force of β on ½‖s − y‖²
    expect(c.model.cost).toBe('mse');
    if (c.model.kind === 'mlp') expect(nudgeForce(c, S, Y)).toEqual(halfSquareForce(beta).map((r) => r.map((v) => expect.closeTo(v, 7))));
  });
});

describe('laborieux2021-*: Laborieux et al. 2021', () => {
  // github.com/Laborieux-Axel/Equilibrium-Propagation: check/train_mnist.sh (MLP), and the README's
  // command for "EP with symmetric gradient estimate" with the cross-entropy loss on CIFAR-10.
  // --lrs, --wds, --channels run from the input to the output, as ours.
  const MLP =
    "python main.py --model 'MLP' --task 'MNIST' --archi 784 512 10 --optim 'adam' --lrs 5e-4 5e-4 --epochs 2 --act 'mysig' --todo 'train' --betas 0.0 0.1 --T1 30 --T2 10 --check-thm --mbs 50 --device 0 --save";
  const CIFAR10 =
    "python main.py --model 'CNN' --task 'CIFAR10' --data-aug --channels 128 256 512 512 --kernels 3 3 3 3 --pools 'mmmm' --strides 1 1 1 1 --paddings 1 1 1 0 --fc 10 --optim 'sgd' --lrs 0.25 0.15 0.1 0.08 0.05 --wds 3e-4 3e-4 3e-4 3e-4 3e-4 --mmt 0.9 --lr-decay --epochs 120 --act 'my_hard_sig' --todo 'train' --T1 250 --T2 25 --mbs 128 --alg 'EP' --betas 0.0 1.0 --thirdphase --loss 'cel' --softmax --save --device 0";
  const MNIST_CNN =
    "python main.py --model 'CNN' --task 'MNIST' --channels 32 64 --kernels 5 5 --pools 'mm' --strides 1 1 --fc 10 --optim 'adam' --lrs 5e-5 1e-5 8e-6 --epochs 1 --act 'hard_sigmoid' --todo 'train' --betas 0.0 0.4 --T1 200 --T2 10 --mbs 100 --device 0";
  // main.py's activations
  const mySigmoid = (x: number) => 1 / (1 + Math.exp(-4 * (x - 0.5)));
  const hardtanh = (x: number) => Math.min(1, Math.max(-1, x));
  const myHardSig = (x: number) => (1 + hardtanh(x - 1)) * 0.5;
  const hardSigmoid = (x: number) => (1 + hardtanh(2 * x - 1)) * 0.5;

  it('laborieux2021-mlp is check/train_mnist.sh', () => {
    const c = preset('laborieux2021-mlp');
    const f = flags(MLP);
    expect(c.model).toMatchObject({ kind: 'mlp', sizes: numbers(f.archi), form: 'primitive', cost: 'mse' });
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.batchSize, c.epochs]).toEqual([f.T1, f.T2, f.mbs, f.epochs].map((v) => Number(v[0])));
    // betas 0.0 β without --random-sign or --thirdphase: one-sided EP with β
    expect(f['random-sign'] ?? f.thirdphase).toBeUndefined();
    expect([c.trainer.estimator, c.trainer.beta]).toEqual(['one-sided', numbers(f.betas)[1]]);
    // --lrs 5e-4 5e-4: one rate for both layers; a single rate applies to every layer
    expect(c.trainer.optimizer).toEqual({ kind: f.optim[0], lrs: [5e-4] });
    expect(numbers(f.lrs).every((lr) => lr === c.trainer.optimizer.lrs[0])).toBe(true);
    expect(c.model.activation).toBe('ernoult-sigmoid');
    expectActivation('ernoult-sigmoid', mySigmoid);
    // model_utils: L = 0.5·MSE summed over the outputs, Φ −= β·L: the force of β on ½‖s − y‖²
    expect(nudgeForce(c, S, Y)).toEqual(halfSquareForce(c.trainer.beta).map((r) => r.map((v) => expect.closeTo(v, 7))));
  });

  it('laborieux2021-cifar10 is the README’s symmetric-EP command with the cross-entropy loss', () => {
    const c = preset('laborieux2021-cifar10');
    const f = flags(CIFAR10);
    const same = (v: string[]) => {
      expect(new Set(v).size).toBe(1); // one value for every layer
      return Number(v[0]);
    };
    expect(c.model).toMatchObject({
      kind: 'conv',
      inputShape: [32, 32, 3],
      channels: numbers(f.channels),
      kernels: [same(f.kernels)],
      paddings: numbers(f.paddings),
      // 'mmmm': max-pooling, "all are kernel size 2 and stride 2" (README)
      pools: ['max'],
      poolSizes: [2],
      dense: numbers(f.fc),
      cost: 'ce', // --loss 'cel' --softmax: cross-entropy of a softmax readout outside the energy
      form: 'primitive',
    });
    expect(f.pools[0]).toBe('mmmm');
    expect(same(f.strides)).toBe(1);
    expect(c.model.activation).toBe('half-clip');
    expectActivation('half-clip', myHardSig);
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.batchSize, c.epochs]).toEqual([f.T1, f.T2, f.mbs, f.epochs].map((v) => Number(v[0])));
    // --thirdphase: the second phase with +β and a third with −β
    expect([c.trainer.estimator, c.trainer.beta]).toEqual(['symmetric', numbers(f.betas)[1]]);
    expect(c.trainer.optimizer).toEqual({ kind: 'momentum', lrs: numbers(f.lrs), momentum: Number(f.mmt[0]), weightDecay: same(f.wds) });
    expect(f.optim[0]).toBe('sgd');
    expect(c.trainer.persistent).toBe(false);
    // --data-aug: RandomHorizontalFlip(0.5) and RandomCrop(32, padding=4)
    expect(c.data).toMatchObject({ dataset: 'cifar10', augment: { cropPad: 4, flip: true } });
    expect(f['lr-decay']).toEqual([]);
    expect(c.lrSchedule).toBe('cosine');
  });

  it('laborieux2021-cifar10-dropout is the README’s dropout command: the CIFAR-10 command with --dropouts (keep → drop probabilities)', () => {
    const DROPOUT =
      "python main_dropout.py --model 'CNN' --task 'CIFAR10' --data-aug --channels 128 256 512 512 --kernels 3 3 3 3 --pools 'mmmm' --strides 1 1 1 1 --paddings 1 1 1 0 --fc 10 --optim 'sgd' --lrs 0.25 0.15 0.1 0.08 0.05 --dropouts 1.0 1.0 1.0 0.9 1.0 --wds 3e-4 3e-4 3e-4 3e-4 3e-4 --mmt 0.9 --lr-decay --epochs 120 --act 'my_hard_sig' --todo 'train' --T1 250 --T2 25 --mbs 128 --alg 'EP' --betas 0.0 1.0 --thirdphase --loss 'cel' --softmax --save --device 0";
    const f = flags(DROPOUT);
    const { dropouts, ...rest } = f;
    expect(rest).toEqual(flags(CIFAR10)); // every other flag is the CIFAR-10 command's
    const c = preset('laborieux2021-cifar10-dropout');
    const { dropout, ...model } = c.model as typeof c.model & { dropout: number[] };
    expect(dropout).toEqual(numbers(dropouts).map((keep) => Number((1 - keep).toFixed(10))));
    expect({ ...c, model, preset: '', description: '' }).toEqual({ ...preset('laborieux2021-cifar10'), preset: '', description: '' });
  });

  it('laborieux2021-cifar10 differs from the reference code where the README does not say so (recorded here)', () => {
    // main.py: CosineAnnealingLR(optimizer, 100, eta_min=1e-5) for 120 epochs; the preset's
    // cosine runs over all epochs to 0: 0.5·(1 + cos(π·epoch/epochs))
    const c = preset('laborieux2021-cifar10');
    expect(c.epochs).toBe(120);
    const scale = (epoch: number) => 0.5 * (1 + Math.cos((Math.PI * epoch) / c.epochs));
    const reference = (epoch: number, lr: number) => 1e-5 + ((lr - 1e-5) * (1 + Math.cos((Math.PI * epoch) / 100))) / 2;
    expect(scale(100) * 0.25).not.toBeCloseTo(reference(100, 0.25), 3);
    // main.py pads the random crop with 'edge' (the border pixels); the augmentation pads with zeros
    // (packages/datasets augment.ts), and the inputs are in [0, 1] without main.py's Normalize
  });

  it('laborieux2021-mnist: the architecture, phases and β of Ernoult et al.’s P-conv and of check/train_mnist_cnn.sh, with symmetric nudging and a CE readout', () => {
    const c = preset('laborieux2021-mnist');
    const ernoult = preset('ernoult2019-conv');
    const f = flags(MNIST_CNN);
    expect(c.model).toMatchObject({
      kind: 'conv',
      inputShape: [28, 28, 1],
      channels: numbers(f.channels),
      kernels: [same(f.kernels)],
      pools: ['max'],
      poolSizes: [2],
      dense: numbers(f.fc),
      cost: 'ce',
    });
    expect(f.pools[0]).toBe('mm');
    expectActivation(c.model.activation as string, hardSigmoid); // --act 'hard_sigmoid'
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.trainer.beta]).toEqual([f.T1, f.T2, [f.betas[1]]].map((v) => Number(v[0])));
    expect(c.trainer.estimator).toBe('symmetric');
    // the optimizer, batch and epochs are Ernoult et al.'s P-conv (SGD, 0.15/0.035/0.015, batch 20,
    // 40 epochs), not the script's Adam (5e-5, 1e-5, 8e-6) on batches of 100 for one epoch
    expect([c.trainer.optimizer, c.batchSize, c.epochs]).toEqual([ernoult.trainer.optimizer, ernoult.batchSize, ernoult.epochs]);
    expect([f.optim[0], numbers(f.lrs), Number(f.mbs[0])]).toEqual(['adam', [5e-5, 1e-5, 8e-6], 100]);
    function same(v: string[]): number {
      expect(new Set(v).size).toBe(1);
      return Number(v[0]);
    }
  });
});

describe('ernoult2020-cep: Ernoult et al. 2020 (continual EP)', () => {
  // github.com/Laborieux-Axel/Equilibrium-Propagation, check/train_mnist_cep.sh (--lrs from the input
  // to the output, as ours; main.py defaults: --loss 'mse', --mmt 0, no --wds), and the C-EP,
  // 1 hidden layer command of github.com/ernoult/continualEP's README (--size_tab and --lr_tab
  // from the output to the input).
  const LABORIEUX =
    "python main.py --model 'MLP' --alg 'CEP' --task 'MNIST' --archi 784 512 10 --optim 'sgd' --lrs 0.0056 0.0028 --epochs 100 --act 'mysig' --todo 'train' --betas 0.0 0.2 --T1 40 --T2 15 --mbs 20 --device 7 --save";
  const ERNOULT = "python main.py --action 'train' --discrete --size_tab 10 512 784 --lr_tab 0.0028 0.0056 --epochs 100 --T 40 --Kmax 15 --beta 0.2 --cep";

  it('is check/train_mnist_cep.sh, and Ernoult’s C-EP command', () => {
    const c = preset('ernoult2020-cep');
    const f = flags(LABORIEUX);
    const e = flags(ERNOULT);
    expect(f.alg).toEqual(['CEP']);
    expect(c.algorithm).toBe('cep');
    expect(c.model).toMatchObject({ kind: 'mlp', sizes: numbers(f.archi), form: 'primitive', cost: 'mse', activation: 'ernoult-sigmoid' });
    expect(numbers(e.size_tab).reverse()).toEqual(c.model.sizes);
    expectActivation('ernoult-sigmoid', (x) => 1 / (1 + Math.exp(-4 * (x - 0.5))));
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.batchSize, c.epochs]).toEqual([f.T1, f.T2, f.mbs, f.epochs].map((v) => Number(v[0])));
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.epochs]).toEqual([e.T, e.Kmax, e.epochs].map((v) => Number(v[0])));
    // betas 0.0 β without --random-sign or --thirdphase: one nudge with +β
    expect(f['random-sign'] ?? f.thirdphase).toBeUndefined();
    expect([c.trainer.estimator, c.trainer.beta]).toEqual(['one-sided', numbers(f.betas)[1]]);
    expect(c.trainer.beta).toBe(Number(e.beta[0]));
    // plain SGD (no --mmt, no --wds), one rate per layer from the input
    expect(c.trainer.optimizer).toEqual({ kind: f.optim[0], lrs: numbers(f.lrs) });
    expect(numbers(e.lr_tab).reverse()).toEqual(c.trainer.optimizer.lrs);
    expect(f.mmt ?? f.wds).toBeUndefined();
    // Φ −= β·L with L = ½‖s − y‖² (model_utils): the force of β on ½‖s − y‖²
    expect(nudgeForce(c, S, Y)).toEqual(halfSquareForce(c.trainer.beta).map((r) => r.map((v) => expect.closeTo(v, 7))));
  });
});

describe('hopfield-resnet13-cifar10: Vinayak & Srinivasan 2025 (arXiv 2509.26003)', () => {
  // github.com/BrainSeek-Lab/Scaling-Equilibrium-Propagation-to-Deeper-Neural-Network-Architectures:
  // the README's run command, EquiProp/dhcnresnet.py's flag defaults, and the "best found" CIFAR-10
  // values its help texts give (--beta "CIFAR10=0.1", --weight_decay "CIFAR10=2.5e-4").
  const COMMAND = 'python EquEquiProp/dhcnresnet.py --dataset CIFAR10 --epochs 300';
  const FLAG_DEFAULTS: Record<string, string[]> = {
    activation: ['relu6'],
    lossfn: ['MSE'],
    optimizer: ['sgd'],
    beta: ['0.1'],
    num_iterations_inference: ['120'],
    num_iterations_training: ['50'],
    momentum: ['0.9'],
    batch_size: ['128'],
    network: ['hopfieldresnet13'],
  };
  const BEST_CIFAR10 = { beta: 0.1, weight_decay: 2.5e-4 };
  // dhcnresnet.py: learning_rates_weights = [3e-2] * 13 for sgd, learning_rates_biases the same
  const LR = 3e-2;
  // model/hopfield/network.py, ConvHopfieldResEnergy32: edges, weight shapes (out, in, kh, kw), strides, paddings, and dhcnresnet.py's weight_gains
  const EDGES = [
    [0, 1],
    [1, 2],
    [0, 2],
    [2, 3],
    [2, 4],
    [3, 4],
    [4, 5],
    [4, 6],
    [5, 6],
    [6, 7],
    [6, 8],
    [7, 8],
    [8, 9],
  ];
  const KERNEL_SIDE = [3, 3, 1, 3, 1, 3, 3, 1, 3, 3, 1, 3, 0]; // 0: the dense head
  const STRIDES = [1, 2, 2, 1, 2, 2, 1, 2, 2, 1, 2, 2];
  const PADDINGS = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1];
  const WEIGHT_GAINS = [0.6, 0.6, 0.7, 0.6, 0.7, 0.6, 0.6, 0.7, 0.6, 0.6, 0.7, 0.6, 0.8];
  const HIDDENS = [128, 256, 512, 512]; // num_hiddens_1 … num_hiddens_4
  const LAYER_SHAPES = [[32, 32, 128], [16, 16, 128], [16, 16, 256], [8, 8, 256], [8, 8, 512], [4, 4, 512], [4, 4, 512], [2, 2, 512], [10]]; // (C, H, W) there

  it('is the code’s Hopfield-ResNet13: layers, skips, strides, paddings, ReLU6, linear output and MSE', () => {
    const c = preset('hopfield-resnet13-cifar10');
    const f = { ...FLAG_DEFAULTS, ...flags(COMMAND) };
    expect(f.dataset).toEqual(['CIFAR10']);
    expect(c.data).toMatchObject({ dataset: 'cifar10', flatten: false });
    expect(c.model).toMatchObject({ kind: 'resnet', inputShape: [32, 32, 3], channels: HIDDENS, kernel: 3, classes: 10, cost: 'mse', form: 'primitive' });
    expect(f.lossfn).toEqual(['MSE']);
    // F.relu6 on the hidden layers; 'linear' on the output (an MSE cost ½‖s − y‖² on it)
    expect([c.model.activation, relu6.name]).toEqual([f.activation[0], 'relu6']);
    for (let x = -2; x <= 8; x += 0.25) expect(relu6.scalar(x)).toBe(Math.min(6, Math.max(0, x)));
    const net = buildModel(c.model as ModelConfig, new Rng(1));
    expect(net.layerShapes).toEqual(LAYER_SHAPES);
    expect(net.activations.map((a) => a.name)).toEqual([...Array(8).fill('relu6'), 'linear']);
    // every edge of the code, and no other: a k×k conv (K), a 1×1 skip (S) or the dense head (W)
    const kinds = { 3: 'K', 1: 'S', 0: 'W' } as Record<number, string>;
    const weights = Object.keys(net.params).filter((n) => !n.startsWith('b'));
    expect(weights.sort()).toEqual(EDGES.map(([i, j], e) => `${kinds[KERNEL_SIDE[e]]}${i}_${j}`).sort());
    EDGES.forEach(([i, j], e) => {
      const term = net.terms.find((t) => t.name === `${kinds[KERNEL_SIDE[e]]}${i}_${j}`) as unknown as {
        stride?: number;
        geometry?: { stride: number; padding: number };
      };
      if (KERNEL_SIDE[e] === 3) expect(term.geometry, `edge ${i}→${j}`).toEqual({ stride: STRIDES[e], padding: PADDINGS[e] });
      if (KERNEL_SIDE[e] === 1) expect([term.stride, PADDINGS[e]], `edge ${i}→${j}`).toEqual([STRIDES[e], 0]);
    });
    // the gains by kind of weight: 0.6 every 3×3 conv, 0.7 every skip, 0.8 the head
    const gainOf = (side: number) => [...new Set(WEIGHT_GAINS.filter((_, e) => KERNEL_SIDE[e] === side))];
    expect([gainOf(3), gainOf(1), gainOf(0)]).toEqual([[0.6], [0.7], [0.8]]);
    expect(c.model.gains).toEqual({ conv: 0.6, skip: 0.7, dense: 0.8, bias: 0.5 }); // bias_gains 0.5/√(9·channels)
    Object.values(net.params).forEach((v) => v.dispose());
  });

  it('trains as dhcnresnet.py: centered EP with β 0.1, T1 120 / T2 50 odd-then-even steps, SGD 0.03 with momentum 0.9 and decay 2.5e-4, batch 128, 300 epochs', () => {
    const c = preset('hopfield-resnet13-cifar10');
    const f = { ...FLAG_DEFAULTS, ...flags(COMMAND) };
    // estimator.variant = 'centered': nudging −β and +β
    expect([c.trainer.estimator, c.trainer.beta]).toEqual(['symmetric', Number(f.beta[0])]);
    expect(c.trainer.beta).toBe(BEST_CIFAR10.beta);
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps]).toEqual([Number(f.num_iterations_inference[0]), Number(f.num_iterations_training[0])]);
    // FixedPointMinimizer's default mode 'asynchronous': updaters[::2] (layers 1, 3, …) then updaters[1::2]
    expect(c.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'alternating' });
    expect(c.trainer.optimizer).toMatchObject({ kind: 'momentum', momentum: Number(f.momentum[0]), weightDecay: BEST_CIFAR10.weight_decay });
    expect(new Set(c.trainer.optimizer.lrs)).toEqual(new Set([LR]));
    expect([c.batchSize, c.epochs, c.lrSchedule]).toEqual([Number(f.batch_size[0]), Number(f.epochs[0]), 'cosine']);
    // evaluation (Evaluator) relaxes from zero with the inference minimizer: 120 iterations
    expect(c.trainer.evalSteps ?? c.trainer.freeSteps).toBe(120);
    expect(c.trainer.persistent).toBe(false);
  });

  it('names the paper and its 93.92 %, and says where eqprop cannot follow the code (recorded here)', () => {
    const c = preset('hopfield-resnet13-cifar10');
    expect(c.description).toMatch(/Vinayak & Srinivasan 2025 \(arXiv 2509\.26003\)/);
    expect(c.description).toMatch(/93\.92 %/);
    // monitor.py: torch.optim.SGD(..., nesterov=True); eqprop's momentum is heavy-ball
    expect(c.description).toMatch(/heavy-ball \(not Nesterov\) momentum/);
    // CosineAnnealingLR(T_max = epochs, eta_min = 2e-6); the preset's cosine ends at 0
    expect(c.description).toMatch(/cosine to 0 \(not 2e-6\)/);
    // datasets.py: RandomHorizontalFlip(0.5), RandAugment(num_ops=3, magnitude=9), RandomCrop(32, padding=4, padding_mode='edge'), Normalize(mean, 3·std)
    expect(c.data.augment).toEqual({ cropPad: 4, flip: true });
    expect(c.description).toMatch(/no RandAugment, zero- \(not edge-\) padded crops, no input normalisation/);
    // Trainer.run: set_input(x, reset=False), the free phase starts where the previous batch left the network
    expect(c.description).toMatch(/free phase from zero/);
  });
});

describe('every preset is covered here', () => {
  it('lists no preset without a paper test', async () => {
    const { presetNames } = await import('./index.js');
    const covered = [
      'scellier2017-1h',
      'scellier2017-2h',
      'scellier2017-3h',
      'ernoult2019-eb1h',
      'ernoult2019-p1h',
      'ernoult2019-p2h',
      'ernoult2019-p3h',
      'ernoult2019-conv',
      'laborieux2021-mlp',
      'laborieux2021-cifar10',
      'laborieux2021-cifar10-dropout',
      'laborieux2021-mnist',
      // tested against the reference's commands in laborieux2021-vf.test.ts
      'laborieux2021-vf-cifar10',
      'laborieux2021-vf-cifar10-same-update',
      'laborieux2021-vf-mnist',
      'ernoult2020-cep',
      'hopfield-resnet13-cifar10',
    ];
    expect([...presetNames()].sort()).toEqual([...covered].sort());
  });
});
