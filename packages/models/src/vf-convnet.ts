import type { Rng } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { type ConvnetConfig, convnet } from './convnet.js';
import { vectorFieldConfig, vectorFieldOf } from './vector-field.js';

export interface VfConvnetConfig extends Omit<ConvnetConfig, 'kind' | 'form'> {
  kind: 'vf-conv';
  /** Only `primitive` (the default). */
  form?: 'primitive';
  /** B gets the same update as W (the reference's `--same-update`); default false. */
  sameUpdate?: boolean;
}

/**
 * Laborieux et al. 2021's vector-field convnet (VF_CNN): the convnet of the same config (same
 * kernels, dense weights and biases for the same seed), each coupling between free layers with a
 * bias-free backward weight B of W's shape, drawn after W with W's fan-in (the reference's B_syn
 * are Conv2d and Linear modules of W's shapes): conv layers get B as a convolution of the lower
 * layer, pooled as W, whose transposed convolution is the field sent down; the dense layers get
 * B as in the VF MLP. With `cost: 'ce'` the readout has no B, as with the reference's `--softmax`.
 */
export function vfConvnet(config: VfConvnetConfig, rng: Rng): EnergyNetwork {
  const { sameUpdate } = vectorFieldConfig(config, 'vf-conv');
  const base = convnet({ ...config, kind: 'conv', form: 'primitive' }, rng);
  return vectorFieldOf(base, rng, { scheme: config.init ?? 'fan-in', sameUpdate, denseFanIn: 'lower' }, 'vf-conv');
}
