import { ConfigError } from '@eqprop/core';

/** A labelled image set held in memory, examples back to back. */
export interface Dataset {
  /** 'mnist-train', 'cifar10-test', ... */
  name: string;
  /** count × exampleSize values in [0, 1]; each example in HWC order. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  /** [28, 28, 1] for MNIST and Fashion-MNIST, [32, 32, 3] for CIFAR-10, [n] for flat sets. */
  exampleShape: number[];
  numClasses: number;
}

/** Number of values in one example. */
export function exampleSize(ds: Pick<Dataset, 'exampleShape'>): number {
  return ds.exampleShape.reduce((a, b) => a * b, 1);
}

/** Throws a ConfigError unless `value` is an integer ≥ `min`. */
export function checkInt(value: unknown, name: string, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}

/** The first `count` examples of `ds` (all of them when it has fewer). Shares memory with `ds`. */
export function subset(ds: Dataset, count: number): Dataset {
  checkInt(count, 'subset count', 0);
  return examples(ds, 0, Math.min(count, ds.count));
}

/** Examples `from` … `to` − 1 of `ds`, sharing its memory. */
function examples(ds: Dataset, from: number, to: number, name = ds.name): Dataset {
  const size = exampleSize(ds);
  return {
    ...ds,
    name,
    images: ds.images.subarray(from * size, to * size),
    labels: ds.labels.subarray(from, to),
    count: to - from,
    exampleShape: ds.exampleShape.slice(),
  };
}

/**
 * Splits off the last `count` examples as a held-out set (a validation set: the reference code of
 * Scellier & Bengio trains on MNIST's first 50 000 training images and validates on the last
 * 10 000). Both parts share memory with `ds`.
 */
export function holdOut(ds: Dataset, count: number): { rest: Dataset; heldOut: Dataset } {
  checkInt(count, 'held-out count', 1);
  if (count >= ds.count) throw new ConfigError(`cannot hold out ${count} of the ${ds.count} examples of ${ds.name}: at least one must stay`);
  const cut = ds.count - count;
  return { rest: examples(ds, 0, cut), heldOut: examples(ds, cut, ds.count, `${ds.name}-heldout`) };
}

/** `limit` as an example count: undefined means all; otherwise a positive integer. */
export function resolveLimit(limit: number | undefined, available: number): number {
  if (limit === undefined) return available;
  checkInt(limit, 'limit', 1);
  return Math.min(limit, available);
}
