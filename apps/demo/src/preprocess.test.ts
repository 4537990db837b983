import { describe, expect, it } from 'vitest';
import { toMnist } from './preprocess.js';

function canvas(w: number, h: number, ink: (x: number, y: number) => boolean): Float32Array {
  const a = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) a[y * w + x] = ink(x, y) ? 1 : 0;
  return a;
}

function box(img: Float32Array) {
  let [x0, y0, x1, y1, mass, mx, my] = [28, 28, -1, -1, 0, 0, 0];
  img.forEach((v, i) => {
    const [x, y] = [i % 28, Math.floor(i / 28)];
    if (v > 0) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    mass += v;
    mx += v * (x + 0.5);
    my += v * (y + 0.5);
  });
  return { w: x1 - x0 + 1, h: y1 - y0 + 1, cx: mx / mass, cy: my / mass };
}

describe('toMnist', () => {
  it('returns null for an empty pad', () => {
    expect(toMnist(new Float32Array(100), 10, 10)).toBeNull();
  });

  it('scales a stroke in a corner to a 20-pixel box centred by its mass', () => {
    const img = toMnist(
      canvas(280, 280, (x, y) => x >= 10 && x < 30 && y >= 5 && y < 125),
      280,
      280,
    )!;
    expect(img).toHaveLength(784);
    const b = box(img);
    expect(b.h).toBe(20);
    expect(b.w).toBeLessThanOrEqual(5);
    expect(Math.abs(b.cx - 14)).toBeLessThanOrEqual(1);
    expect(Math.abs(b.cy - 14)).toBeLessThanOrEqual(1);
    expect(Math.max(...img)).toBeLessThanOrEqual(1);
    expect(Math.min(...img)).toBeGreaterThanOrEqual(0);
  });

  it('enlarges a tiny drawing', () => {
    const b = box(
      toMnist(
        canvas(50, 50, (x, y) => x >= 20 && x < 25 && y >= 20 && y < 25),
        50,
        50,
      )!,
    );
    expect([b.w, b.h]).toEqual([20, 20]);
  });
});
