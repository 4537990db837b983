import { describe, expect, it } from 'vitest';
import {
  base64ToBytes,
  bytesToBase64,
  ConfigError,
  compareGrads,
  DataFormatError,
  deserializeTensor,
  EqpropError,
  Rng,
  serializeTensor,
  setupBackend,
  tf,
} from './index.js';

describe('Rng', () => {
  it('refuses, in one line, a seed it would silently truncate, zero-fill or round', () => {
    expect(() => new Rng([1, 2] as never)).toThrow(/^an Rng state must be four integers in 0 … 2\^32 − 1 \(from rng.getState\(\)\), got \[1, 2\]$/);
    expect(() => new Rng([1, 2, 3, 4, 5] as never)).toThrow(ConfigError);
    expect(() => new Rng([1, 2, 3, -4] as never)).toThrow(ConfigError);
    expect(() => new Rng([1, 2, 3, 2 ** 32] as never)).toThrow(ConfigError);
    expect(() => new Rng(1.5)).toThrow(/^an Rng seed must be an integer, got 1.5$/);
    expect(() => new Rng(Number.NaN)).toThrow(ConfigError);
    expect(() => new Rng(1).setState([0, 0, 1] as never)).toThrow(ConfigError);
    // what is accepted still works: a negative integer is taken modulo 2^32, a saved state restores
    expect(new Rng(-1).next()).toBe(new Rng(2 ** 32 - 1).next());
    const r = new Rng(9);
    const saved = r.getState();
    const first = r.next();
    expect(new Rng(saved).next()).toBe(first);
  });

  it('is deterministic for a seed and resumable from its state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const first = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(first);
    expect(new Rng(43).next()).not.toBe(first[0]);
    const state = a.getState();
    const next = [a.next(), a.nextUint32(), a.int(7)];
    const c = new Rng(0);
    c.setState(state);
    expect([c.next(), c.nextUint32(), c.int(7)]).toEqual(next);
  });

  it('draws uniform numbers, permutations and signs with the right statistics', () => {
    const r = new Rng(1);
    const xs = Array.from({ length: 20000 }, () => r.next());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.49);
    expect(mean).toBeLessThan(0.51);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const p = r.permutation(100);
    expect([...p].sort((u, v) => u - v)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const signs = Array.from({ length: 2000 }, () => r.sign());
    const plus = signs.filter((s) => s === 1).length;
    expect(plus).toBeGreaterThan(900);
    expect(plus).toBeLessThan(1100);
    const normals = Array.from({ length: 20000 }, () => r.normal());
    const variance = normals.reduce((s, x) => s + x * x, 0) / normals.length;
    expect(variance).toBeGreaterThan(0.95);
    expect(variance).toBeLessThan(1.05);
  });
});

describe('tensor serialisation', () => {
  it('round-trips float32 and int32 tensors bit for bit', async () => {
    await setupBackend('cpu');
    const f = tf.tensor([1.5, -2.25, 3.125e-7, Number.MAX_VALUE / 1e300], [2, 2]);
    const back = deserializeTensor(serializeTensor(f));
    expect(Array.from(back.dataSync())).toEqual(Array.from(f.dataSync()));
    expect(back.shape).toEqual([2, 2]);
    const i = tf.tensor([1, -7, 2 ** 30], [3], 'int32');
    expect(Array.from(deserializeTensor(serializeTensor(i)).dataSync())).toEqual([1, -7, 2 ** 30]);
  });

  it('base64 matches Node for every length and rejects garbage', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, k) => (k * 37 + n) & 255);
      const text = bytesToBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(Array.from(base64ToBytes(text))).toEqual(Array.from(bytes));
    }
    expect(() => base64ToBytes('ab$d')).toThrow(DataFormatError);
  });

  it('rejects a saved tensor whose data does not fit its shape', () => {
    const s = serializeTensor(tf.zeros([3]));
    expect(() => deserializeTensor({ ...s, shape: [4] })).toThrow(/shape \[4\]/);
    expect(() => deserializeTensor({ ...s, shape: [-1] })).toThrow(DataFormatError);
  });
});

describe('backends and gradients', () => {
  it('names the backends it knows when asked for another', async () => {
    await expect(setupBackend('gpu')).rejects.toThrow(/unknown backend "gpu": expected one of wasm, cpu/);
    await expect(setupBackend('gpu')).rejects.toBeInstanceOf(EqpropError);
    expect(await setupBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('compares gradient records by cosine and relative error', async () => {
    await setupBackend('cpu');
    const ref = { a: tf.tensor([1, 0]), b: tf.tensor([0, 1]) };
    expect(compareGrads(ref, ref)).toEqual({ cosine: expect.closeTo(1, 6), relError: expect.closeTo(0, 6) });
    const neg = { a: tf.tensor([-1, 0]), b: tf.tensor([0, -1]) };
    expect(compareGrads(neg, ref).cosine).toBeCloseTo(-1, 6);
    expect(compareGrads(neg, ref).relError).toBeCloseTo(2, 6);
  });
});
