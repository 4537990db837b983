/**
 * A drawing as MNIST presents its digits: the ink's bounding box scaled to fit 20×20 (aspect kept,
 * area-averaged), then placed in a 28×28 image with its centre of mass at the centre.
 * `ink` holds w·h values in [0, 1], row-major. Returns null when nothing is drawn.
 */
export function toMnist(ink: ArrayLike<number>, w: number, h: number, threshold = 0.05): Float32Array | null {
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink[y * w + x] > threshold) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const [bw, bh] = [x1 - x0 + 1, y1 - y0 + 1];
  const scale = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  // area average of the source pixels under each target pixel
  const small = new Float32Array(tw * th);
  for (let ty = 0; ty < th; ty++) {
    const sy0 = y0 + Math.floor((ty * bh) / th);
    const sy1 = Math.max(sy0 + 1, y0 + Math.floor(((ty + 1) * bh) / th));
    for (let tx = 0; tx < tw; tx++) {
      const sx0 = x0 + Math.floor((tx * bw) / tw);
      const sx1 = Math.max(sx0 + 1, x0 + Math.floor(((tx + 1) * bw) / tw));
      let sum = 0;
      for (let sy = sy0; sy < sy1; sy++) for (let sx = sx0; sx < sx1; sx++) sum += ink[sy * w + sx];
      small[ty * tw + tx] = sum / ((sy1 - sy0) * (sx1 - sx0));
    }
  }
  let [mass, mx, my] = [0, 0, 0];
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x];
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const ox = clamp(Math.round(14 - mx / mass), 28 - tw);
  const oy = clamp(Math.round(14 - my / mass), 28 - th);
  const out = new Float32Array(28 * 28);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) out[(y + oy) * 28 + x + ox] = Math.min(1, small[y * tw + x]);
  return out;
}
