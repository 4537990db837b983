import { ConfigError, type Rng } from '@eqprop/core';

/**
 * Data augmentation for image sets (CIFAR-10 as in Laborieux et al. 2021): a random crop of the
 * image padded with `cropPad` zeros on each side (a shift by −cropPad..cropPad in each direction),
 * then a horizontal flip with probability ½.
 */
export interface Augment {
  cropPad?: number;
  flip?: boolean;
}

/** Throws a ConfigError unless `aug` suits examples of shape `shape` (HWC). */
export function checkAugment(aug: Augment, shape: readonly number[]): void {
  if (shape.length !== 3) {
    throw new ConfigError(`augment needs images of shape [height, width, channels], got [${shape.join(', ')}]`);
  }
  const pad = aug.cropPad ?? 0;
  if (!Number.isInteger(pad) || pad < 0 || pad >= Math.min(shape[0], shape[1])) {
    throw new ConfigError(`augment.cropPad must be an integer in [0, ${Math.min(shape[0], shape[1]) - 1}], got ${pad}`);
  }
}

/** Writes the augmented copy of the example at `src[srcAt..]` to `dst[dstAt..]`. */
export function augmentExample(src: Float32Array, srcAt: number, dst: Float32Array, dstAt: number, shape: readonly number[], aug: Augment, rng: Rng): void {
  const [h, w, c] = shape;
  const pad = aug.cropPad ?? 0;
  const dy = pad ? rng.int(2 * pad + 1) - pad : 0;
  const dx = pad ? rng.int(2 * pad + 1) - pad : 0;
  const flip = aug.flip ? rng.next() < 0.5 : false;
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + dx;
      const out = dstAt + (y * w + x) * c;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        dst.fill(0, out, out + c);
      } else {
        const from = srcAt + (sy * w + sx) * c;
        for (let k = 0; k < c; k++) dst[out + k] = src[from + k];
      }
    }
  }
}
