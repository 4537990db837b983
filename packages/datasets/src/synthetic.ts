import { ConfigError, Rng } from '@eqprop/core';
import { checkInt, type Dataset } from './dataset.js';

export interface SyntheticOptions {
  count: number;
  inputSize: number;
  numClasses: number;
  seed: number;
}

/**
 * A learnable toy set for tests: each class has a random binary prototype (values 0.2 or 0.8);
 * an example is its class prototype plus Gaussian noise (σ = 0.15), clipped to [0, 1].
 * Classes are balanced (example i has label i mod numClasses).
 */
export function synthetic(opts: SyntheticOptions): Dataset {
  checkInt(opts.count, 'count', 1);
  checkInt(opts.inputSize, 'inputSize', 1);
  checkInt(opts.numClasses, 'numClasses', 2);
  if (!Number.isInteger(opts.seed)) throw new ConfigError(`seed must be an integer, got ${opts.seed}`);
  const { count, inputSize, numClasses } = opts;
  const rng = new Rng(opts.seed);
  const protos = new Float32Array(numClasses * inputSize);
  for (let i = 0; i < protos.length; i++) protos[i] = rng.next() < 0.5 ? 0.2 : 0.8;
  const images = new Float32Array(count * inputSize);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const label = n % numClasses;
    labels[n] = label;
    for (let i = 0; i < inputSize; i++) {
      const v = protos[label * inputSize + i] + 0.15 * rng.normal();
      images[n * inputSize + i] = Math.min(1, Math.max(0, v));
    }
  }
  return { name: 'synthetic', images, labels, count, exampleShape: [inputSize], numClasses };
}
