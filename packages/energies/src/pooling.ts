import { ConfigError, tf } from '@eqprop/core';

export const POOL_KINDS = ['max', 'avg', 'none', 'softmax'] as const;
export type PoolKind = (typeof POOL_KINDS)[number];

/** Pooling after a convolution: size × size windows with stride `size` (no overlap). */
export interface Pooling {
  kind: PoolKind;
  size: number;
  /**
   * Softmax pooling only: τ of the weights softmax(c/τ) over each window (default 1, as in the
   * energy-based-learning code of Scellier et al.). τ → 0 tends to max-pooling, τ → ∞ to average.
   */
  temperature?: number;
}

export const NO_POOLING: Pooling = { kind: 'none', size: 1 };

export function checkPooling(p: Pooling, where: string): void {
  if (!POOL_KINDS.includes(p?.kind)) throw new ConfigError(`${where}: pooling "${p?.kind}" is unknown, expected one of ${POOL_KINDS.join(', ')}`);
  if (!Number.isInteger(p.size) || p.size < 1) throw new ConfigError(`${where}: pooling size must be a positive integer, got ${p.size}`);
  if (p.temperature !== undefined && !(p.temperature > 0 && Number.isFinite(p.temperature))) {
    throw new ConfigError(`${where}: softmax pooling temperature must be a positive number, got ${p.temperature}`);
  }
}

/** Whether the pooling's adjoint depends on the pooled values (max, softmax): it needs `poolRouting` of them. */
export function isRouted(p: Pooling): boolean {
  return (p.kind === 'max' || p.kind === 'softmax') && p.size > 1;
}

/** P(c): max-, average- or softmax-pooled, or c itself. */
export function pool(c: tf.Tensor, p: Pooling): tf.Tensor {
  if (p.kind === 'none' || p.size === 1) return c;
  if (p.kind === 'softmax') return tf.tidy(() => softmaxPool(c, p)[0]);
  const pooled = p.kind === 'max' ? tf.maxPool : tf.avgPool;
  return pooled(c as tf.Tensor4D, p.size, p.size, 'valid');
}

/**
 * ∂P/∂c as weights on c for a routed pooling (isRouted), shape of c: the mask of each window's
 * first maximum (maxPoolMask), or the softmax pooling's Jacobian (softmaxPool). unpool multiplies
 * the upsampled u by it.
 */
export function poolRouting(c: tf.Tensor, p: Pooling): tf.Tensor {
  if (p.kind === 'max') return maxPoolMask(c, p.size);
  if (p.kind === 'softmax') return tf.tidy(() => softmaxPool(c, p)[1]);
  throw new ConfigError(`${p.kind}-pooling routes nothing: its adjoint does not depend on its input`);
}

/** [P(c), poolRouting(c)] in one pass (softmax: one softmax for both); the routing only where isRouted. */
export function poolAndRoute(c: tf.Tensor, p: Pooling): tf.Tensor[] {
  if (!isRouted(p)) return [pool(c, p)];
  if (p.kind === 'softmax') return softmaxPool(c, p);
  return [pool(c, p), maxPoolMask(c, p.size)];
}

/**
 * Softmax pooling (the `conv_soft_pool` interaction of Scellier et al.'s energy-based-learning
 * code): each window's smooth maximum P = Σ_i c_i q_i, q = softmax(c/τ) over the window, and its
 * Jacobian ∂P/∂c_i = q_i (1 + (c_i − P)/τ), so the adjoint Pᵀu is exactly the gradient of Σ u · P(c)
 * and an energy built on it keeps its fields as −∂E/∂a. Returns [P, Jacobian in the layout of c].
 */
export function softmaxPool(c: tf.Tensor, p: Pooling): tf.Tensor[] {
  return tf.tidy(() => {
    const tau = p.temperature ?? 1;
    const w = toWindows(c, p.size); // [b, h, w, C, size²]
    const q = tf.softmax(tau === 1 ? w : tf.div(w, tau)); // over the last axis: stable (shifted by its max)
    const pooled = tf.sum(tf.mul(w, q), 4, true);
    const jacobian = tf.mul(q, tf.add(1, tf.div(tf.sub(w, pooled), tau)));
    return [tf.squeeze(pooled, [4]), fromWindows(jacobian, c.shape, p.size)];
  });
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
    // int32 one-hot, then cast: wasm's OneHot writes int32 bits into a float32 output
    const first = tf.cast(tf.oneHot(tf.argMax(toWindows(c, size), 4), size * size), 'float32');
    return fromWindows(first, c.shape, size);
  });
}

/** The size × size windows of c [b, H, W, C] as the last axis: [b, H/size, W/size, C, size²], row-major in each window. */
function toWindows(c: tf.Tensor, size: number): tf.Tensor {
  const [b, H, W, C] = c.shape;
  const [h, w] = [H / size, W / size];
  return tf.transpose(tf.reshape(c, [b, h, size, w, size, C]), [0, 1, 3, 5, 2, 4]).reshape([b, h, w, C, size * size]);
}

/** Inverse of toWindows: [b, h, w, C, size²] back to the layout `shape` [b, H, W, C]. */
function fromWindows(t: tf.Tensor, shape: number[], size: number): tf.Tensor {
  const [b, h, w, C] = t.shape;
  return tf.transpose(t.reshape([b, h, w, C, size, size]), [0, 1, 4, 2, 5, 3]).reshape(shape);
}

/**
 * Pᵀ u: the adjoint of the pooling, the gradient of Σ u · P(c) with respect to c. Max- and softmax
 * pooling need the routing of c (poolRouting: the max mask, the softmax Jacobian); average pooling
 * spreads u evenly over each window.
 */
export function unpool(u: tf.Tensor, p: Pooling, routing?: tf.Tensor): tf.Tensor {
  if (p.kind === 'none' || p.size === 1) return u;
  return tf.tidy(() => {
    const [, h, w] = u.shape;
    const up = tf.image.resizeNearestNeighbor(u as tf.Tensor4D, [h * p.size, w * p.size]);
    if (p.kind === 'avg') return tf.mul(up, 1 / (p.size * p.size));
    if (!routing) throw new ConfigError(`unpooling a ${p.kind}-pool needs the routing of its input (poolRouting)`);
    return tf.mul(up, routing);
  });
}
