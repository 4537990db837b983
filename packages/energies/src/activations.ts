import { ConfigError, tf } from '@eqprop/core';
import { relu6 } from './clip-activation.js';

/**
 * A neuron non-linearity. In the Hopfield form it is ρ (applied to states inside the energy);
 * in the primitive form it is σ of the fixed-point map s = σ(∂Φ/∂s). `selfEnergy` is the
 * convex self term G with G' = σ⁻¹, so that s = σ(field) minimises G(s) − s·field exactly.
 */
export interface Activation {
  readonly name: string;
  apply(x: tf.Tensor): tf.Tensor;
  derivative(x: tf.Tensor): tf.Tensor;
  /** The values it takes; gradient-descent states are clipped here (Scellier & Bengio). */
  readonly range: readonly [number, number];
  /** True when apply(x) = x on `range` (hard sigmoid): then ρ(s) = s and ρ'(s) = 1 for clipped states. */
  readonly identityOnRange: boolean;
  /** Per-unit self energy G(s) with G' = σ⁻¹ (for the primitive form's energy). */
  selfEnergy(s: tf.Tensor): tf.Tensor;
  /** Scalar form, for float64 references and plots. */
  scalar(x: number): number;
  /**
   * apply(x) = base(gain·(x − centre)). Solvers fold gain and centre into per-batch cached
   * weights and static fields (BoundNetwork.preActivation), leaving one op per layer and step.
   */
  readonly affine: { gain: number; centre: number };
  base(z: tf.Tensor): tf.Tensor;
  /** 'sigmoid' where `base` is the logistic: the wasm kernels fuse it, holomorphic EP extends it to complex states. */
  readonly fusedBase?: 'sigmoid';
}

export const hardSigmoid: Activation = {
  name: 'hard-sigmoid',
  apply: (x) => tf.clipByValue(x, 0, 1),
  derivative: (x) => tf.tidy(() => tf.cast(tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 1)), 'float32')),
  range: [0, 1],
  identityOnRange: true,
  selfEnergy: (s) => tf.tidy(() => tf.mul(0.5, tf.square(s))),
  scalar: (x) => Math.min(1, Math.max(0, x)),
  affine: { gain: 1, centre: 0 },
  base: (z) => tf.clipByValue(z, 0, 1),
};

/** Logistic sigmoid with gain and centre: 1 / (1 + e^{−gain(x − centre)}). */
export function logistic(gain = 1, centre = 0, name = gain === 1 && centre === 0 ? 'sigmoid' : `sigmoid(${gain},${centre})`): Activation {
  return {
    name,
    apply: (x) => tf.tidy(() => tf.sigmoid(tf.mul(gain, tf.sub(x, centre)))),
    derivative: (x) =>
      tf.tidy(() => {
        const y = tf.sigmoid(tf.mul(gain, tf.sub(x, centre)));
        return tf.mul(gain, tf.mul(y, tf.sub(1, y)));
      }),
    range: [0, 1],
    identityOnRange: false,
    // G(s) = centre·s + (s ln s + (1−s) ln(1−s)) / gain, whose derivative is σ⁻¹(s)
    selfEnergy: (s) =>
      tf.tidy(() => {
        const c = tf.clipByValue(s, 1e-7, 1 - 1e-7);
        const ent = tf.add(tf.mul(c, tf.log(c)), tf.mul(tf.sub(1, c), tf.log(tf.sub(1, c))));
        return tf.add(tf.mul(centre, s), tf.div(ent, gain));
      }),
    scalar: (x) => 1 / (1 + Math.exp(-gain * (x - centre))),
    affine: { gain, centre },
    base: (z) => tf.sigmoid(z),
    fusedBase: 'sigmoid',
  };
}

export const sigmoid = logistic(1, 0, 'sigmoid');
/** σ(x) = 1/(1+e^{−4(x−0.5)}) of Ernoult et al. 2019 and Laborieux et al. 2021 (MLP). */
export const ernoultSigmoid = logistic(4, 0.5, 'ernoult-sigmoid');

/** clip(x/2, 0, 1), the activation of Laborieux et al. 2021's convnets. */
export const halfClip: Activation = {
  name: 'half-clip',
  apply: (x) => tf.tidy(() => tf.clipByValue(tf.mul(x, 0.5), 0, 1)),
  derivative: (x) => tf.tidy(() => tf.mul(0.5, tf.cast(tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 2)), 'float32'))),
  range: [0, 1],
  identityOnRange: false,
  selfEnergy: (s) => tf.tidy(() => tf.square(s)), // σ⁻¹(s) = 2s on [0, 1]
  scalar: (x) => Math.min(1, Math.max(0, x / 2)),
  affine: { gain: 0.5, centre: 0 },
  base: (z) => tf.clipByValue(z, 0, 1),
};

export const ACTIVATIONS: Record<string, Activation> = {
  'hard-sigmoid': hardSigmoid,
  sigmoid,
  'ernoult-sigmoid': ernoultSigmoid,
  'half-clip': halfClip,
  relu6,
};

export function activationByName(name: string): Activation {
  const a = ACTIVATIONS[name];
  if (!a) throw new ConfigError(`unknown activation "${name}": expected one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  return a;
}
