import { type Batch, ConfigError, Rng, tf } from '@eqprop/core';
import { type Augment, augmentExample, checkAugment } from './augment.js';
import { checkInt, type Dataset, exampleSize } from './dataset.js';

/** Labels as one-hot rows: labels.length × numClasses. */
export function oneHot(labels: Int32Array, numClasses: number): Float32Array {
  checkInt(numClasses, 'numClasses', 1);
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0 || l >= numClasses) throw new ConfigError(`label ${l} at index ${i} is outside 0..${numClasses - 1}`);
    out[i * numClasses + l] = 1;
  }
  return out;
}

/** Batches per epoch: ⌈count / batchSize⌉, or ⌊count / batchSize⌋ when the last partial batch is dropped. */
export function numBatches(count: number, batchSize: number, dropLast = false): number {
  checkInt(count, 'count', 0);
  checkInt(batchSize, 'batchSize', 1);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

export interface MakeBatchOptions {
  /** x as [B, exampleSize] instead of [B, ...exampleShape]. */
  flatten?: boolean;
  augment?: Augment;
  /** Needed with `augment`. */
  rng?: Rng;
}

/** The examples at `indices` as a Batch. The caller disposes `x` and `y`. */
export function makeBatch(ds: Dataset, indices: Int32Array, opts: MakeBatchOptions = {}): Batch {
  const b = indices.length;
  if (b === 0) throw new ConfigError('makeBatch needs at least one index, got none');
  if (opts.augment) {
    checkAugment(opts.augment, ds.exampleShape);
    if (!opts.rng) throw new ConfigError('makeBatch with augment needs an rng (randomness comes only from a seeded Rng)');
  }
  const size = exampleSize(ds);
  const x = new Float32Array(b * size);
  const labels = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const j = indices[i];
    if (!(j >= 0 && j < ds.count)) throw new ConfigError(`index ${j} is outside ${ds.name} (0..${ds.count - 1})`);
    if (opts.augment) augmentExample(ds.images, j * size, x, i * size, ds.exampleShape, opts.augment, opts.rng!);
    else x.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = ds.labels[j];
  }
  return {
    x: tf.tensor(x, opts.flatten ? [b, size] : [b, ...ds.exampleShape], 'float32'),
    y: tf.tensor2d(oneHot(labels, ds.numClasses), [b, ds.numClasses]),
    labels,
    indices: Int32Array.from(indices),
  };
}

export interface BatchesOptions extends Omit<MakeBatchOptions, 'rng'> {
  /** Draws the epoch's order (and the augmentation seed). Needed when shuffling or augmenting. */
  rng?: Rng;
  /** Default true. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize. */
  dropLast?: boolean;
  /** Skip the first `start` batches of this epoch's order (resuming an epoch). */
  start?: number;
}

/**
 * One epoch of batches. The call itself draws, from `rng`, the permutation of the examples and
 * (with `augment`) one seed from which batch k derives its own augmentation generator; so the
 * same rng state gives the same batches, and `start: k` yields exactly batches k, k+1, … of the
 * full epoch. The caller disposes each batch's `x` and `y`.
 */
export function batches(ds: Dataset, batchSize: number, opts: BatchesOptions = {}): Generator<Batch> {
  const total = numBatches(ds.count, batchSize, opts.dropLast);
  const start = opts.start ?? 0;
  checkInt(start, 'start', 0);
  if (start > total) throw new ConfigError(`start must be at most ${total} (batches per epoch), got ${start}`);
  const shuffle = opts.shuffle ?? true;
  if ((shuffle || opts.augment) && !opts.rng) {
    throw new ConfigError(`batches with ${shuffle ? 'shuffle' : 'augment'} needs an rng; pass { rng: new Rng(seed) } or shuffle: false`);
  }
  if (opts.augment) checkAugment(opts.augment, ds.exampleShape);
  let order: Int32Array;
  if (shuffle) order = opts.rng!.permutation(ds.count);
  else {
    order = new Int32Array(ds.count);
    for (let i = 0; i < ds.count; i++) order[i] = i;
  }
  const augmentSeed = opts.augment ? opts.rng!.nextUint32() : 0;
  return (function* () {
    for (let k = start; k < total; k++) {
      const indices = order.subarray(k * batchSize, Math.min((k + 1) * batchSize, ds.count));
      const rng = opts.augment ? new Rng((augmentSeed + Math.imul(k, 0x9e3779b9)) >>> 0) : undefined;
      yield makeBatch(ds, indices, { flatten: opts.flatten, augment: opts.augment, rng });
    }
  })();
}
