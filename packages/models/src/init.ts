import { type Rng, tf } from '@eqprop/core';

export type InitScheme = 'glorot' | 'fan-in';

/**
 * Weight initialisation from a seeded Rng. `glorot`: U(±√(6/(fan_in+fan_out))) (Glorot & Bengio
 * 2010, used by Scellier & Bengio); `fan-in`: U(±1/√fan_in) (PyTorch's default, used by the
 * reference code of Ernoult et al. and Laborieux et al.).
 */
export function initWeight(shape: number[], fanIn: number, fanOut: number, scheme: InitScheme, rng: Rng): tf.Variable {
  const bound = scheme === 'glorot' ? Math.sqrt(6 / (fanIn + fanOut)) : 1 / Math.sqrt(fanIn);
  const size = shape.reduce((a, b) => a * b, 1);
  return variableFrom(rng.uniformArray(size, -bound, bound), shape);
}

export function initBias(shape: number[], fanIn: number, scheme: InitScheme, rng: Rng): tf.Variable {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = scheme === 'glorot' ? new Float32Array(size) : rng.uniformArray(size, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  return variableFrom(values, shape);
}

/** A trainable variable holding `values` (its source tensor is freed). No tfjs name: names are global. */
function variableFrom(values: Float32Array, shape: number[]): tf.Variable {
  const t = tf.tensor(values, shape);
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}
