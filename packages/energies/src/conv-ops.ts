import { tf } from '@eqprop/core';

/**
 * The convolution of a conv coupling and its two adjoints, written with ops that all run on the
 * wasm backend. Layout NHWC, kernels [kh, kw, in, out], a symmetric padding of `padding` zeros on
 * each side (PyTorch's `padding=p`), the same stride along both axes.
 */
export interface ConvGeometry {
  stride: number;
  padding: number;
}

/** Output side of a convolution: ⌊(n + 2p − k) / s⌋ + 1. */
export function convOutputSize(n: number, k: number, { stride, padding }: ConvGeometry): number {
  return Math.floor((n + 2 * padding - k) / stride) + 1;
}

export function conv2d(x: tf.Tensor, kernel: tf.Tensor, g: ConvGeometry): tf.Tensor4D {
  return tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, g.stride, g.padding === 0 ? 'valid' : g.padding);
}

/** The kernel of the transposed convolution as a forward one: flipped in space, in/out swapped. */
export function flipKernel(kernel: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D);
}

/**
 * ∂/∂x of Σ dy · conv2d(x, K): the transposed convolution of dy. With stride 1 it is a forward
 * conv2d of dy with the flipped kernel `flipped` (from flipKernel) and padding k − 1 − p, about 4×
 * faster on wasm than tf.conv2dTranspose, which it falls back to for other strides.
 */
export function conv2dBackpropInput(
  dy: tf.Tensor,
  kernel: tf.Tensor,
  flipped: tf.Tensor,
  inputShape: number[],
  g: ConvGeometry,
): tf.Tensor4D {
  const [kh, kw] = kernel.shape;
  const [ph, pw] = [kh - 1 - g.padding, kw - 1 - g.padding];
  if (g.stride === 1 && ph >= 0 && pw >= 0) {
    const pad = ph === 0 && pw === 0 ? 'valid' : ([[0, 0], [ph, ph], [pw, pw], [0, 0]] as tf.backend_util.ExplicitPadding);
    return tf.conv2d(dy as tf.Tensor4D, flipped as tf.Tensor4D, 1, pad);
  }
  const shape = [dy.shape[0], ...inputShape] as [number, number, number, number];
  return tf.conv2dTranspose(dy as tf.Tensor4D, kernel as tf.Tensor4D, shape, g.stride, g.padding === 0 ? 'valid' : g.padding);
}

/**
 * ∂/∂K of Σ dy · conv2d(x, K), summed over the batch. The kernel Conv2DBackpropFilter is missing on
 * wasm, so this is a conv2d over transposed tensors: the input channels become the batch, the batch
 * becomes the channels contracted over, and dy (dilated by the stride) is the filter.
 */
export function conv2dBackpropFilter(x: tf.Tensor, dy: tf.Tensor, kernelSize: [number, number], g: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [in, H, W, B]
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, B, out]
    let k = tf.conv2d(xt, dyt, 1, g.padding === 0 ? 'valid' : g.padding, 'NHWC', g.stride); // [in, ≥kh, ≥kw, out]
    const [kh, kw] = kernelSize;
    if (k.shape[1] !== kh || k.shape[2] !== kw) k = tf.slice(k, [0, 0, 0, 0], [k.shape[0], kh, kw, k.shape[3]]);
    return tf.transpose(k, [1, 2, 0, 3]);
  });
}
