import { tf } from '@eqprop/core';

export { relError } from './check-term.js';

export function randomActs(shapes: number[][], batch: number, seed: number): tf.Tensor[] {
  return shapes.map((s, i) => tf.randomUniform([batch, ...s], 0, 1, 'float32', seed + i));
}
