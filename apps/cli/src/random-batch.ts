import { type Batch, Rng, tf } from '@eqprop/core';

/**
 * A batch of `n` examples of `inputShape`, pixels uniform in [0, 1), random one-hot targets over
 * 10 classes: the same for a seed on every backend (equivalence checks, accelerator benchmarks,
 * where the cost of a batch does not depend on the pixels).
 */
export function randomBatch(inputShape: number[], n: number, seed: number): Batch {
  const rng = new Rng(seed);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const labels = Int32Array.from({ length: n }, () => rng.int(10));
  return {
    x: tf.tensor(rng.uniformArray(n * size, 0, 1), [n, ...inputShape]),
    y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat() as tf.Tensor2D),
    labels,
    indices: Int32Array.from({ length: n }, (_, i) => i),
  };
}
