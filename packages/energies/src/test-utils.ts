import { tf } from '@eqprop/core';

/** max |a − b| / max(|b|, floor): the relative error every closed-form check uses. */
export function relError(a: tf.Tensor, b: tf.Tensor, floor = 1e-3): number {
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    const scale = Math.max(tf.max(tf.abs(b)).dataSync()[0], floor);
    return diff / scale;
  });
}

export function randomActs(shapes: number[][], batch: number, seed: number): tf.Tensor[] {
  return shapes.map((s, i) => tf.randomUniform([batch, ...s], 0, 1, 'float32', seed + i));
}
