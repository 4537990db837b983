import { ConfigError, tf } from '@eqprop/core';

export const POOL_KINDS = ['max', 'avg', 'none'] as const;
export type PoolKind = (typeof POOL_KINDS)[number];

/** Pooling after a convolution: size × size windows with stride `size` (no overlap). */
export interface Pooling {
  kind: PoolKind;
  size: number;
}

export const NO_POOLING: Pooling = { kind: 'none', size: 1 };

export function checkPooling(p: Pooling, where: string): void {
  if (!POOL_KINDS.includes(p?.kind)) throw new ConfigError(`${where}: pooling "${p?.kind}" is unknown, expected one of ${POOL_KINDS.join(', ')}`);
  if (!Number.isInteger(p.size) || p.size < 1) throw new ConfigError(`${where}: pooling size must be a positive integer, got ${p.size}`);
}

/** P(c): max- or average-pooled, or c itself. */
export function pool(c: tf.Tensor, p: Pooling): tf.Tensor {
  if (p.kind === 'none' || p.size === 1) return c;
  const pooled = p.kind === 'max' ? tf.maxPool : tf.avgPool;
  return pooled(c as tf.Tensor4D, p.size, p.size, 'valid');
}

/**
 * One-hot of the first maximum of each window of c, shape of c: where max-pooling routes its
 * gradient. Built from argMax rather than the MaxPoolGrad kernel, because the wasm backend's
 * MaxPoolGrad and maxPoolWithArgmax (tfjs 4.22) route wrongly in windows whose values are all
 * ≤ 0 (conv outputs often are); ties go to the first maximum in row-major order,
 * as on the cpu backend.
 */
export function maxPoolMask(c: tf.Tensor, size: number): tf.Tensor {
  return tf.tidy(() => {
    const [b, H, W, C] = c.shape;
    const [h, w] = [H / size, W / size];
    const windows = tf.transpose(tf.reshape(c, [b, h, size, w, size, C]), [0, 1, 3, 5, 2, 4]).reshape([b, h, w, C, size * size]);
    // int32 one-hot, then cast: wasm's OneHot writes int32 bits into a float32 output
    const first = tf.cast(tf.oneHot(tf.argMax(windows, 4), size * size), 'float32').reshape([b, h, w, C, size, size]);
    return tf.transpose(first, [0, 1, 4, 2, 5, 3]).reshape([b, H, W, C]);
  });
}

/**
 * Pᵀ u: the adjoint of the pooling, the gradient of Σ u · P(c) with respect to c. Max-pooling
 * needs the mask of c (maxPoolMask); average pooling spreads u evenly over each window.
 */
export function unpool(u: tf.Tensor, p: Pooling, mask?: tf.Tensor): tf.Tensor {
  if (p.kind === 'none' || p.size === 1) return u;
  return tf.tidy(() => {
    const [, h, w] = u.shape;
    const up = tf.image.resizeNearestNeighbor(u as tf.Tensor4D, [h * p.size, w * p.size]);
    if (p.kind === 'avg') return tf.mul(up, 1 / (p.size * p.size));
    if (!mask) throw new ConfigError('unpooling a max-pool needs the mask of its input');
    return tf.mul(up, mask);
  });
}
