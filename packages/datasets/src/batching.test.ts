import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batches, makeBatch, numBatches, oneHot } from './batching.js';
import type { Dataset } from './dataset.js';
import { synthetic } from './synthetic.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** A set of `count` H×W×C images whose values encode (example, position) exactly. */
function images(count: number, shape = [4, 5, 2]): Dataset {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count * size).map((_, i) => ((i % size) + 1) / size + Math.floor(i / size));
  return { name: 'toy', images: data, labels: Int32Array.from({ length: count }, (_, i) => i % 3), count, exampleShape: shape, numClasses: 3 };
}

/** The order of examples in an epoch. */
const order = (it: Iterable<{ indices: Int32Array; x: tf.Tensor; y: tf.Tensor }>) => {
  const out: number[] = [];
  for (const b of it) {
    out.push(...b.indices);
    b.x.dispose();
    b.y.dispose();
  }
  return out;
};

describe('oneHot and numBatches', () => {
  it('encode labels and count batches', () => {
    expect(Array.from(oneHot(Int32Array.from([2, 0]), 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => oneHot(Int32Array.from([3]), 3)).toThrow(/label 3 at index 0 is outside 0..2/);
    expect(numBatches(10, 3)).toBe(4);
    expect(numBatches(10, 3, true)).toBe(3);
    expect(numBatches(0, 3)).toBe(0);
    for (const bad of [0, -1, 2.5, NaN]) expect(() => numBatches(10, bad)).toThrow(ConfigError);
    expect(() => numBatches(10, 0)).toThrow('batchSize must be an integer ≥ 1, got 0');
  });
});

describe('makeBatch', () => {
  it('gathers examples into x, one-hot y, labels and indices', () => {
    const ds = images(6);
    const before = tf.memory().numTensors;
    const b = makeBatch(ds, Int32Array.from([4, 1]));
    expect(b.x.shape).toEqual([2, 4, 5, 2]);
    expect(b.y.shape).toEqual([2, 3]);
    expect(Array.from(b.labels)).toEqual([1, 1]);
    expect(Array.from(b.indices)).toEqual([4, 1]);
    expect(Array.from(b.x.dataSync().subarray(0, 40))).toEqual(Array.from(ds.images.subarray(160, 200)));
    expect(Array.from(b.y.dataSync())).toEqual([0, 1, 0, 0, 1, 0]);
    const flat = makeBatch(ds, Int32Array.from([0]), { flatten: true });
    expect(flat.x.shape).toEqual([1, 40]);
    tf.dispose([b.x, b.y, flat.x, flat.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad indices and augment without rng', () => {
    const ds = images(3);
    expect(() => makeBatch(ds, Int32Array.from([3]))).toThrow('index 3 is outside toy (0..2)');
    expect(() => makeBatch(ds, new Int32Array(0))).toThrow(ConfigError);
    expect(() => makeBatch(ds, Int32Array.from([0]), { augment: { flip: true } })).toThrow(/needs an rng/);
    const flat = synthetic({ count: 4, inputSize: 8, numClasses: 2, seed: 0 });
    expect(() => makeBatch(flat, Int32Array.from([0]), { augment: { flip: true }, rng: new Rng(0) })).toThrow(
      /augment needs images of shape \[height, width, channels\], got \[8\]/,
    );
  });
});

describe('batches', () => {
  const ds = images(23);

  it('visits every example once per epoch, in a seeded order', () => {
    const a = order(batches(ds, 5, { rng: new Rng(7) }));
    expect(a.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(order(batches(ds, 5, { rng: new Rng(7) }))).toEqual(a);
    expect(order(batches(ds, 5, { rng: new Rng(8) }))).not.toEqual(a);
    const rng = new Rng(7);
    const e1 = order(batches(ds, 5, { rng }));
    const e2 = order(batches(ds, 5, { rng }));
    expect(e1).toEqual(a);
    expect(e2).not.toEqual(e1); // the next epoch draws a new order
    expect(order(batches(ds, 5, { shuffle: false }))).toEqual(Array.from({ length: 23 }, (_, i) => i));
  });

  it('sizes batches, and drops the short last one on request', () => {
    const sizes = (opts: { dropLast?: boolean }) =>
      [...batches(ds, 5, { rng: new Rng(1), ...opts })].map((b) => {
        tf.dispose([b.x, b.y]);
        return b.labels.length;
      });
    expect(sizes({})).toEqual([5, 5, 5, 5, 3]);
    expect(sizes({ dropLast: true })).toEqual([5, 5, 5, 5]);
    const kept = order(batches(ds, 5, { rng: new Rng(1), dropLast: true }));
    expect(new Set(kept).size).toBe(20);
  });

  it('start resumes the epoch exactly, augmentation included', () => {
    const opts = { augment: { cropPad: 1, flip: true } };
    const all = [...batches(ds, 4, { rng: new Rng(3), ...opts })];
    const resumed = [...batches(ds, 4, { rng: new Rng(3), start: 2, ...opts })];
    expect(resumed.length).toBe(all.length - 2);
    resumed.forEach((b, k) => {
      expect(Array.from(b.indices)).toEqual(Array.from(all[k + 2].indices));
      expect(Array.from(b.x.dataSync())).toEqual(Array.from(all[k + 2].x.dataSync()));
    });
    for (const b of [...all, ...resumed]) tf.dispose([b.x, b.y]);
    expect([...batches(ds, 4, { rng: new Rng(3), start: 6 })]).toEqual([]);
    expect(() => batches(ds, 4, { rng: new Rng(3), start: 7 })).toThrow('start must be at most 6 (batches per epoch), got 7');
  });

  it('checks its options when called', () => {
    expect(() => batches(ds, 0, { rng: new Rng(0) })).toThrow('batchSize must be an integer ≥ 1, got 0');
    expect(() => batches(ds, 4, {})).toThrow(/batches with shuffle needs an rng/);
    expect(() => batches(ds, 4, { shuffle: false, augment: { flip: true } })).toThrow(/batches with augment needs an rng/);
    expect(() => batches(ds, 4, { rng: new Rng(0), augment: { cropPad: 4 } })).toThrow(/cropPad must be an integer in \[0, 3\], got 4/);
  });
});

describe('augment', () => {
  const ds = images(40, [6, 7, 3]);
  const [h, w, c] = ds.exampleShape;
  const size = h * w * c;
  /** The image `src` shifted by (dy, dx) with zeros coming in, then mirrored when `flip`. */
  const transform = (src: Float32Array, dy: number, dx: number, flip: boolean) => {
    const out = new Float32Array(size);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const sy = y + dy;
        const sx = (flip ? w - 1 - x : x) + dx;
        if (sy >= 0 && sy < h && sx >= 0 && sx < w) for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = src[(sy * w + sx) * c + k];
      }
    return out;
  };
  const run = (aug: { cropPad?: number; flip?: boolean }) => {
    const b = makeBatch(
      ds,
      Int32Array.from({ length: 40 }, (_, i) => i),
      { augment: aug, rng: new Rng(5) },
    );
    expect(b.x.shape).toEqual([40, 6, 7, 3]);
    const x = b.x.dataSync() as Float32Array;
    tf.dispose([b.x, b.y]);
    return Array.from({ length: 40 }, (_, i) => ({ out: Array.from(x.subarray(i * size, (i + 1) * size)), src: ds.images.subarray(i * size, (i + 1) * size) }));
  };

  it('flip mirrors exactly, about half the time', () => {
    let flipped = 0;
    for (const { out, src } of run({ flip: true })) {
      if (out.every((v, i) => v === src[i])) continue;
      expect(out).toEqual(Array.from(transform(src, 0, 0, true)));
      flipped++;
    }
    expect(flipped).toBeGreaterThan(8);
    expect(flipped).toBeLessThan(32);
  });

  it('crop shifts by at most cropPad with zero padding, keeping the shape', () => {
    const shifts = new Set<string>();
    for (const { out, src } of run({ cropPad: 2, flip: true })) {
      const match = [];
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++)
          for (const flip of [false, true]) if (Array.from(transform(src, dy, dx, flip)).every((v, i) => v === out[i])) match.push(`${dy},${dx},${flip}`);
      expect(match.length).toBeGreaterThan(0);
      shifts.add(match[0]);
    }
    expect(shifts.size).toBeGreaterThan(10);
  });
});
