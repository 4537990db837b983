import type { Rng } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { layeredMlp, type MlpConfig } from './mlp.js';
import { vectorFieldConfig, vectorFieldOf } from './vector-field.js';

export interface VfMlpConfig extends Omit<MlpConfig, 'kind' | 'form'> {
  kind: 'vf-mlp';
  /** Only `primitive` (the default): the dynamics s_k = σ(W_k s_{k−1} + B_{k+1}ᵀ s_{k+1} + b_k). */
  form?: 'primitive';
  /** B gets the same update as W (the reference's `--same-update`); default false. */
  sameUpdate?: boolean;
}

/**
 * Laborieux et al. 2021's vector-field MLP (VF_MLP): the layered MLP of the same config (same W
 * and biases for the same seed), each coupling between free layers with bias-free backward
 * weights B, drawn after W as the reference draws them: PyTorch's Linear from the upper layer to
 * the lower, U(±1/√n_upper) under `init: 'fan-in'`. Fields on layer k: W_k a_{k−1} + B_{k+1}ᵀ a_{k+1} + b_k.
 */
export function vfMlp(config: VfMlpConfig, rng: Rng): EnergyNetwork {
  const { sameUpdate } = vectorFieldConfig(config, 'vf-mlp');
  const base = layeredMlp({ ...config, kind: 'mlp', form: 'primitive' }, rng);
  return vectorFieldOf(base, rng, { scheme: config.init ?? 'glorot', sameUpdate, denseFanIn: 'upper' }, 'vf-mlp');
}
