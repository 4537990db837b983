import type * as tf from '@tensorflow/tfjs';

/** Activities of the free layers, batch-first; index 0 is the first free layer. */
export type State = tf.Tensor[];

/** Named parameters (trainable variables) of a model. */
export type Params = Record<string, tf.Variable>;

/** Gradients or updates keyed like Params. */
export type Grads = Record<string, tf.Tensor>;

/** One mini-batch: inputs, one-hot targets, integer labels and dataset indices of its examples. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor2D;
  labels: Int32Array;
  /** Index of each example in its dataset (keys of persistent particles). */
  indices: Int32Array;
}
