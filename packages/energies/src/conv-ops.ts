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
 * Whether a stride-1 transposed convolution is cheaper as one convolution per kernel row (see
 * conv2dBackpropInput). Written as a forward convolution of dy padded by k − 1 − p, it computes
 * every output row against all kh kernel rows, the zero rows of the padding included; row by row
 * it computes only the rows of dy: (rows of dy) / (rows of the output) of the work, in kh
 * convolutions, kh pads and an addN instead of one op. On wasm, for the MNIST convnet's second
 * layer (8 rows of dy, 12 of output, 5×5, 64 → 32 channels; `eqprop bench --only transpose`):
 * 1.35–1.43× faster at batches 10 and 20, 1.04–1.13× at 1. Not worth it where the output is
 * barely larger than dy (padding p near k − 1, as in "same" convs).
 */
export function transposeByRows(dyRows: number, outRows: number, g: ConvGeometry): boolean {
  return g.stride === 1 && dyRows <= 0.75 * outRows;
}

/** Row r of a flipped kernel (from flipKernel) as a [1, kw, out, in] kernel: an operand of the row-by-row transposed convolution. */
export function kernelRow(flipped: tf.Tensor, r: number): tf.Tensor4D {
  const [, kw, cout, cin] = flipped.shape;
  return tf.slice(flipped, [r, 0, 0, 0], [1, kw, cout, cin]) as tf.Tensor4D;
}

/**
 * ∂/∂x of Σ dy · conv2d(x, K): the transposed convolution of dy. With stride 1 it is a forward
 * conv2d of dy with the flipped kernel `flipped` (from flipKernel) and padding k − 1 − p, about 4×
 * faster on wasm than tf.conv2dTranspose, which it falls back to for other strides. Given the
 * flipped kernel's rows (kernelRow; use them where transposeByRows says so), it is instead the sum
 * of one 1×kw convolution of dy per kernel row, each shifted to the output rows it reaches: no
 * multiply by the padding's zero rows.
 */
export function conv2dBackpropInput(
  dy: tf.Tensor,
  kernel: tf.Tensor,
  flipped: tf.Tensor,
  inputShape: number[],
  g: ConvGeometry,
  rows?: readonly tf.Tensor[],
): tf.Tensor4D {
  const [kh, kw] = kernel.shape;
  const [ph, pw] = [kh - 1 - g.padding, kw - 1 - g.padding];
  if (g.stride === 1 && ph >= 0 && pw >= 0) {
    if (rows) return transposeRowByRow(dy as tf.Tensor4D, rows, inputShape[0], ph, pw);
    const pad =
      ph === 0 && pw === 0
        ? 'valid'
        : ([
            [0, 0],
            [ph, ph],
            [pw, pw],
            [0, 0],
          ] as tf.backend_util.ExplicitPadding);
    return tf.conv2d(dy as tf.Tensor4D, flipped as tf.Tensor4D, 1, pad);
  }
  const shape = [dy.shape[0], ...inputShape] as [number, number, number, number];
  return tf.conv2dTranspose(dy as tf.Tensor4D, kernel as tf.Tensor4D, shape, g.stride, g.padding === 0 ? 'valid' : g.padding);
}

/**
 * The padded convolution's output row i is Σ_r (row r of the flipped kernel on dy row i + r − ph):
 * so row r's convolution of dy (its rows are dy's) lands at output rows shifted by ph − r, cut to
 * the H output rows (a padding p > 0 drops rows at both ends).
 */
function transposeRowByRow(dy: tf.Tensor4D, rows: readonly tf.Tensor[], H: number, ph: number, pw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, dyRows] = dy.shape;
    const colPad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [0, 0],
      [pw, pw],
      [0, 0],
    ];
    const parts = rows.map((row, r) => {
      let c = tf.conv2d(dy, row as tf.Tensor4D, 1, pw === 0 ? 'valid' : colPad);
      const top = ph - r; // output row of dy's row 0
      const [from, to] = [Math.max(0, -top), Math.min(dyRows, H - top)]; // dy rows inside the output
      const kept = Math.max(0, to - from); // 0 where a padding wider than dy keeps the row out of the output
      if (kept < dyRows) c = tf.slice(c, [0, from, 0, 0], [n, kept, -1, -1]);
      const above = Math.max(0, top);
      return tf.pad(c, [
        [0, 0],
        [above, H - above - kept],
        [0, 0],
        [0, 0],
      ]);
    });
    return tf.addN(parts) as tf.Tensor4D;
  });
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
