import { describe, expect, it } from 'vitest';
import { holdOut, subset } from './dataset.js';
import { synthetic } from './synthetic.js';

describe('synthetic', () => {
  it('is seeded, balanced, in [0, 1], and separable by nearest class mean', () => {
    const opts = { count: 400, inputSize: 20, numClasses: 4, seed: 3 };
    const ds = synthetic(opts);
    expect(ds).toMatchObject({ name: 'synthetic', count: 400, exampleShape: [20], numClasses: 4 });
    expect(synthetic(opts).images).toEqual(ds.images);
    expect(synthetic({ ...opts, seed: 4 }).images).not.toEqual(ds.images);
    expect(ds.images.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(Array.from({ length: 4 }, (_, c) => ds.labels.filter((l) => l === c).length)).toEqual([100, 100, 100, 100]);
    // class means from the first half classify the second half
    const means = new Float64Array(4 * 20);
    for (let n = 0; n < 200; n++) for (let i = 0; i < 20; i++) means[ds.labels[n] * 20 + i] += ds.images[n * 20 + i] / 50;
    let correct = 0;
    for (let n = 200; n < 400; n++) {
      let best = -1;
      let bestD = Infinity;
      for (let c = 0; c < 4; c++) {
        let d = 0;
        for (let i = 0; i < 20; i++) d += (ds.images[n * 20 + i] - means[c * 20 + i]) ** 2;
        if (d < bestD) [best, bestD] = [c, d];
      }
      if (best === ds.labels[n]) correct++;
    }
    expect(correct / 200).toBeGreaterThan(0.9);
  });

  it('rejects bad options', () => {
    expect(() => synthetic({ count: 0, inputSize: 2, numClasses: 2, seed: 0 })).toThrow('count must be an integer ≥ 1, got 0');
    expect(() => synthetic({ count: 2, inputSize: 2, numClasses: 1, seed: 0 })).toThrow(/numClasses must be/);
    expect(() => synthetic({ count: 2, inputSize: 2, numClasses: 2, seed: 0.5 })).toThrow(/seed must be an integer/);
  });
});

describe('subset', () => {
  it('keeps the first examples, sharing memory', () => {
    const ds = synthetic({ count: 10, inputSize: 3, numClasses: 2, seed: 1 });
    const s = subset(ds, 4);
    expect(s).toMatchObject({ count: 4, exampleShape: [3], numClasses: 2 });
    expect(s.images).toEqual(ds.images.subarray(0, 12));
    expect(s.images.buffer).toBe(ds.images.buffer);
    expect(subset(ds, 99).count).toBe(10);
    expect(() => subset(ds, -1)).toThrow(/subset count must be an integer ≥ 0/);
  });
});

describe('holdOut', () => {
  it('splits off the last examples, disjoint and in order, sharing memory', () => {
    const ds = synthetic({ count: 10, inputSize: 3, numClasses: 2, seed: 2 });
    const { rest, heldOut } = holdOut(ds, 3);
    expect([rest.count, heldOut.count]).toEqual([7, 3]);
    expect(rest.images).toEqual(ds.images.subarray(0, 21));
    expect(heldOut.images).toEqual(ds.images.subarray(21, 30));
    expect(Array.from(heldOut.labels)).toEqual(Array.from(ds.labels.subarray(7)));
    expect(heldOut.images.buffer).toBe(ds.images.buffer);
    expect(() => holdOut(ds, 10)).toThrow(/cannot hold out 10 of the 10 examples/);
    expect(() => holdOut(ds, 0)).toThrow(/held-out count must be an integer ≥ 1, got 0/);
  });
});
