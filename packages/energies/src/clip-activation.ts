import { tf } from '@eqprop/core';
import type { Activation } from './activations.js';

/**
 * clip(x, lo, hi): the identity on [lo, hi], constant outside. The hard sigmoid is clip(x, 0, 1);
 * `relu6` and `linear` below are the other two the Hopfield-ResNet (arXiv 2509.26003) uses. On its
 * range σ⁻¹(s) = s, so the primitive form's self energy is ½s², as the hard sigmoid's.
 */
export function clipActivation(lo: number, hi: number, name: string): Activation {
  return {
    name,
    apply: (x) => tf.clipByValue(x, lo, hi),
    derivative: (x) => tf.tidy(() => tf.cast(tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)), 'float32')),
    range: [lo, hi],
    identityOnRange: true,
    selfEnergy: (s) => tf.tidy(() => tf.mul(0.5, tf.square(s))),
    scalar: (x) => Math.min(hi, Math.max(lo, x)),
    affine: { gain: 1, centre: 0 },
    base: (z) => tf.clipByValue(z, lo, hi),
  };
}

/** ReLU6 = clip(x, 0, 6), the "clipped ReLU" of the Hopfield-ResNet's hidden layers (its code's default 'relu6'). */
export const relu6 = clipActivation(0, 6, 'relu6');

/** The identity, for an output layer inside the energy with an MSE cost (the Hopfield-ResNet code's 'linear'). */
export const linear = clipActivation(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 'linear');
