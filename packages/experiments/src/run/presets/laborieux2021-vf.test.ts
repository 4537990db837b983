// The vector-field presets against the reference code's command lines, in the authors' own terms
// (github.com/Laborieux-Axel/Equilibrium-Propagation, master: README.md, main.py, check/), translated
// where conventions differ: --betas 0.0 B --thirdphase is the symmetric estimate with β = B, --loss
// 'cel' --softmax is the CE readout outside the system, --lr-decay is a cosine schedule.

import { Rng, setupBackend, type tf } from '@eqprop/core';
import { activationByName, VfConvCoupling, VfDenseCoupling } from '@eqprop/energies';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeConfig, type RunConfig, validateConfig } from '../config.js';
import { getPreset, presetNames } from './index.js';
import { flags, numbers } from './reference-flags.test-util.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const preset = (name: string): RunConfig => validateConfig(getPreset(name));

// README.md, "Training a recurrent CNN on CIFAR-10 with asymmetric connections"
const VFCNN =
  "python main.py --model 'VFCNN' --task 'CIFAR10' --data-aug --channels 128 256 512 512 --kernels 3 3 3 3 --pools 'mmmm' --strides 1 1 1 1 --paddings 1 1 1 0 --fc 10 --optim 'sgd' --lrs 0.25 0.15 0.1 0.08 0.05 --wds 3e-4 3e-4 3e-4 3e-4 3e-4 --mmt 0.9 --lr-decay --epochs 120 --act 'my_hard_sig' --todo 'train' --T1 250 --T2 30 --mbs 128 --alg 'EP' --betas 0.0 1.0 --thirdphase --loss 'cel' --softmax --save --device 0";
const VFCNN_SAME =
  "python main.py --model 'VFCNN' --task 'CIFAR10' --data-aug --channels 128 256 512 512 --kernels 3 3 3 3 --pools 'mmmm' --strides 1 1 1 1 --paddings 1 1 1 0 --fc 10 --optim 'sgd' --lrs 0.25 0.15 0.1 0.08 0.05 --wds 3e-4 3e-4 3e-4 3e-4 3e-4 --mmt 0.9 --lr-decay --epochs 120 --act 'my_hard_sig' --todo 'train' --T1 250 --T2 30 --mbs 128 --alg 'EP' --betas 0.0 1.0 --thirdphase --same-update --loss 'cel' --softmax --save --device 0";
// check/train_mnist.sh (the MLP script) with the VF MLP the README's --model table names
const VFMLP =
  "python main.py --model 'VFMLP' --task 'MNIST' --archi 784 512 10 --optim 'adam' --lrs 5e-4 5e-4 --epochs 2 --act 'mysig' --todo 'train' --betas 0.0 0.1 --T1 30 --T2 10 --check-thm --mbs 50 --device 0 --save";
// main.py's activations and defaults
const hardtanh = (x: number) => Math.min(1, Math.max(-1, x));
const ACT: Record<string, [string, (x: number) => number]> = {
  my_hard_sig: ['half-clip', (x) => (1 + hardtanh(x - 1)) * 0.5],
  mysig: ['ernoult-sigmoid', (x) => 1 / (1 + Math.exp(-4 * (x - 0.5)))],
};
const DEFAULT_LOSS = 'mse';

function expectActivation(name: string, reference: (x: number) => number): void {
  const a = activationByName(name);
  for (let x = -1.5; x <= 3; x += 0.125) expect(a.scalar(x)).toBeCloseTo(reference(x), 12);
}

describe('laborieux2021-vf-*: Laborieux et al. 2021, vector-field networks', () => {
  it.each([
    ['laborieux2021-vf-cifar10', VFCNN, false],
    ['laborieux2021-vf-cifar10-same-update', VFCNN_SAME, true],
  ] as const)('%s is the README command of its VFCNN', (name, command, same) => {
    const c = preset(name);
    const f = flags(command);
    expect('same-update' in f).toBe(same);
    expect(c.model).toMatchObject({
      kind: 'vf-conv',
      inputShape: [32, 32, 3],
      channels: numbers(f.channels),
      kernels: [Number(f.kernels[0])],
      paddings: numbers(f.paddings),
      pools: ['max'], // 'mmmm', 2×2 windows of stride 2 (make_pools)
      poolSizes: [2],
      dense: numbers(f.fc),
      cost: 'ce', // --loss 'cel' --softmax: the last Linear is a readout outside the system
      form: 'primitive',
      init: 'fan-in', // no --scale: PyTorch's default init
    });
    expect(f.kernels.every((k) => k === f.kernels[0]) && f.strides.every((s) => s === '1')).toBe(true);
    expect(f.pools[0]).toBe('mmmm');
    expect(c.model.sameUpdate ?? false).toBe(same);
    const [activation, rho] = ACT[f.act[0]];
    expect(c.model.activation).toBe(activation);
    expectActivation(activation, rho);
    // --betas 0.0 1.0 --thirdphase: the ±β symmetric estimate
    expect([c.trainer.estimator, c.trainer.beta]).toEqual(['symmetric', Number(f.betas[1])]);
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.batchSize, c.epochs]).toEqual(numbers([f.T1[0], f.T2[0], f.mbs[0], f.epochs[0]]));
    // one weight decay for every layer, B's rate its forward twin's (main.py: B_syn[i] gets lrs[i + 1])
    expect(new Set(f.wds).size).toBe(1);
    expect(c.trainer.optimizer).toEqual({ kind: 'momentum', lrs: numbers(f.lrs), momentum: Number(f.mmt[0]), weightDecay: Number(f.wds[0]) });
    expect(c.lrSchedule).toBe('cosine');
    expect(c.data).toEqual({ dataset: 'cifar10', flatten: false, augment: { cropPad: 4, flip: true } });
    expect(c.trainer.solver).toEqual({ kind: 'fixed-point', schedule: 'synchronous' });
  });

  it('laborieux2021-vf-mnist is check/train_mnist.sh with --model VFMLP', () => {
    const c = preset('laborieux2021-vf-mnist');
    const f = flags(VFMLP);
    expect(c.model).toMatchObject({ kind: 'vf-mlp', sizes: numbers(f.archi), cost: DEFAULT_LOSS, form: 'primitive', init: 'fan-in' });
    const [activation, rho] = ACT[f.act[0]];
    expect(c.model.activation).toBe(activation);
    expectActivation(activation, rho);
    // --betas 0.0 0.1 without --thirdphase or --random-sign: one-sided
    expect([c.trainer.estimator, c.trainer.beta]).toEqual(['one-sided', Number(f.betas[1])]);
    expect([c.trainer.freeSteps, c.trainer.nudgedSteps, c.batchSize, c.epochs]).toEqual(numbers([f.T1[0], f.T2[0], f.mbs[0], f.epochs[0]]));
    expect(c.trainer.optimizer).toEqual({ kind: 'adam', lrs: numbers(f.lrs) });
    expect(c.data).toEqual({ dataset: 'mnist', flatten: true });
  });

  it('each is listed, names the paper and builds a network of vector-field couplings (shrunk)', () => {
    const names = ['laborieux2021-vf-cifar10', 'laborieux2021-vf-cifar10-same-update', 'laborieux2021-vf-mnist'];
    for (const name of names) {
      expect(presetNames()).toContain(name);
      expect(preset(name).description).toMatch(/^Laborieux et al\. 2021: /);
    }
    const conv = mergeConfig(preset('laborieux2021-vf-cifar10-same-update').model, { channels: [2, 3, 4, 5] }) as ModelConfig;
    const cnn = buildModel(conv, new Rng(1));
    const vfConv = cnn.terms.filter((t): t is VfConvCoupling => t instanceof VfConvCoupling);
    expect(vfConv.map((t) => [t.name, t.sameUpdate])).toEqual([
      ['K1_2', true],
      ['K2_3', true],
      ['K3_4', true],
    ]);
    expect(Object.keys(cnn.params)).toEqual(['K0_1', 'b1', 'K1_2', 'B1_2', 'b2', 'K2_3', 'B2_3', 'b3', 'K3_4', 'B3_4', 'b4', 'Wout', 'bout']);
    const mlp = buildModel(mergeConfig(preset('laborieux2021-vf-mnist').model, { sizes: [784, 16, 10] }) as ModelConfig, new Rng(1));
    expect(mlp.terms.filter((t) => t instanceof VfDenseCoupling).map((t) => t.name)).toEqual(['W1_2']);
    // B as the reference's VF_MLP draws it: a Linear from the 10 outputs to the 16 hidden units, U(±1/√10)
    const B = (mlp.params.B1_2 as tf.Tensor).dataSync();
    expect(Math.max(...B.map(Math.abs))).toBeGreaterThan(0.8 / Math.sqrt(10));
    expect(Math.max(...B.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(10));
    for (const p of [...Object.values(cnn.params), ...Object.values(mlp.params)]) p.dispose();
  });
});
