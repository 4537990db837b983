import { Rng } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { Arena, CLIP01, LOGISTIC, WasmKernels } from './wasm-kernels.js';

const K = WasmKernels.create();

/** The float64 product init + a·b, a [m×k] (leading dimension lda), b [k×n] (ldb), init broadcast by ldi. */
function product(
  a: ArrayLike<number>,
  lda: number,
  b: ArrayLike<number>,
  ldb: number,
  m: number,
  n: number,
  k: number,
  init?: ArrayLike<number>,
  ldi = n,
): number[] {
  return Array.from({ length: m * n }, (_, idx) => {
    const [i, j] = [Math.floor(idx / n), idx % n];
    let s = init ? init[i * ldi + j] : 0;
    for (let p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
    return s;
  });
}

describe('WasmKernels products', () => {
  const rng = new Rng(7);
  // shapes that take the 4×8 tiles (nn) and 4×2 tiles (nt) and every remainder: rows past a multiple
  // of 4, columns past 8 and past 4, an odd column count, k past a multiple of 4, k = 0
  const shapes: [number, number, number][] = [
    [3, 8, 5],
    [5, 20, 7],
    [9, 36, 12],
    [4, 5, 8],
    [8, 16, 1],
    [6, 11, 13],
    [2, 3, 0],
  ];
  for (const [m, n, k] of shapes) {
    for (const init of ['none', 'matrix', 'row'] as const) {
      it(`gemm_nn and gemm_nt give the float64 product ${m}×${k} by ${k}×${n} (init: ${init}), with padded leading dimensions`, () => {
        const [lda, ldb, ldc, ldi] = [k + 3, n + 2, n + 1, init === 'row' ? 0 : n + 5];
        const a = rng.uniformArray(m * lda, -1, 1);
        const b = rng.uniformArray(k * ldb, -1, 1);
        const bt = new Float32Array(n * (k + 1)); // bᵀ with leading dimension k + 1
        for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * (k + 1) + p] = b[p * ldb + j];
        const c0 = init === 'none' ? undefined : rng.uniformArray(init === 'row' ? n : m * ldi, -1, 1);
        const want = product(a, lda, b, ldb, m, n, k, c0, ldi);
        const arena = new Arena(K);
        const [pa, pb, pbt, pi] = [arena.put(a), arena.put(b), arena.put(bt), c0 ? arena.put(c0) : 0];
        for (const form of ['nn', 'nt'] as const) {
          const c = arena.put(new Float32Array(m * ldc).fill(7)); // the padding columns must stay 7
          if (form === 'nn') K.fn.gemm_nn(pa, lda, pb, ldb, pi, ldi, c, ldc, m, n, k);
          else K.fn.gemm_nt(pa, lda, pbt, k + 1, pi, ldi, c, ldc, m, n, k);
          const got = K.view(c, m * ldc);
          want.forEach((w, idx) => expect(Math.abs(got[Math.floor(idx / n) * ldc + (idx % n)] - w)).toBeLessThan(1e-5));
          for (let i = 0; i < m; i++) expect(got[i * ldc + n]).toBe(7);
        }
        arena.release();
      });
    }
  }

  it('an element does not depend on the tile it falls in: rows computed alone equal rows computed together', () => {
    const [m, n, k] = [11, 19, 9];
    const arena = new Arena(K);
    const a = arena.put(rng.uniformArray(m * k, -1, 1));
    const b = arena.put(rng.uniformArray(k * n, -1, 1));
    const bt = arena.put(rng.uniformArray(n * k, -1, 1));
    for (const form of ['nn', 'nt'] as const) {
      const f = form === 'nn' ? K.fn.gemm_nn : K.fn.gemm_nt;
      const ld = form === 'nn' ? n : k;
      const whole = arena.alloc(m * n);
      const parts = arena.alloc(m * n);
      f(a, k, form === 'nn' ? b : bt, ld, 0, 0, whole, n, m, n, k);
      // rows 0–2, 3–9, 10 and, for the columns, 0–4 and 5–18: other tiles and remainders each time
      for (const [r0, r1] of [
        [0, 3],
        [3, 10],
        [10, 11],
      ])
        for (const [c0, c1] of [
          [0, 5],
          [5, 19],
        ]) {
          const bcol = form === 'nn' ? b + 4 * c0 : bt + 4 * c0 * k;
          f(a + 4 * r0 * k, k, bcol, ld, 0, 0, parts + 4 * (r0 * n + c0), n, r1 - r0, c1 - c0, k);
        }
      expect(Array.from(K.view(parts, m * n))).toEqual(Array.from(K.view(whole, m * n)));
    }
    arena.release();
  });
});

describe('WasmKernels sparse product', () => {
  const rng = new Rng(11);
  // columns through the 32-wide tiles, the 4-wide ones and single ones; rows of all zeros; k = 0
  const shapes: [number, number, number][] = [
    [5, 37, 29],
    [3, 70, 100],
    [4, 3, 8],
    [2, 64, 0],
  ];
  for (const [m, n, k] of shapes)
    for (const bias of [false, true])
      it(`gemm_sp equals gemm_nn bit for bit on a ${m}×${k} input that is ~80 % zeros by ${k}×${n} (bias: ${bias}), and the float64 product`, () => {
        const [lda, ldb, ldc] = [k + 3, n + 2, n + 1];
        const a = rng.uniformArray(m * lda, -1, 1).map((v, i) => (Math.floor(i / lda) === 1 || rng.next() < 0.8 ? 0 : v));
        const b = rng.uniformArray(k * ldb, -1, 1);
        const c0 = bias ? rng.uniformArray(n, -1, 1) : undefined;
        const arena = new Arena(K);
        const [pa, pb, pi, list] = [arena.put(a), arena.put(b), c0 ? arena.put(c0) : 0, arena.alloc(m + 2 * m * k)];
        const [dense, sparse] = [0, 1].map(() => arena.put(new Float32Array(m * ldc).fill(7)));
        K.fn.gemm_nn(pa, lda, pb, ldb, pi, 0, dense, ldc, m, n, k);
        K.fn.gemm_sp(pa, lda, pb, ldb, pi, sparse, ldc, m, n, k, list);
        expect(Array.from(K.view(sparse, m * ldc))).toEqual(Array.from(K.view(dense, m * ldc)));
        const want = product(a, lda, b, ldb, m, n, k, c0, 0);
        const got = K.view(sparse, m * ldc);
        want.forEach((w, idx) => expect(Math.abs(got[Math.floor(idx / n) * ldc + (idx % n)] - w)).toBeLessThan(1e-5));
        arena.release();
      });

  it('gemm_sp: a NaN in the input reaches its row, as in the dense product', () => {
    const [m, n, k] = [2, 40, 6];
    const a = new Float32Array(m * k);
    a[k + 2] = Number.NaN;
    const arena = new Arena(K);
    const c = arena.alloc(m * n);
    K.fn.gemm_sp(arena.put(a), k, arena.put(rng.uniformArray(k * n, -1, 1)), n, 0, c, n, m, n, k, arena.alloc(m + 2 * m * k));
    const got = K.view(c, m * n);
    expect(Array.from(got.subarray(0, n)).every((v) => v === 0)).toBe(true);
    expect(Array.from(got.subarray(n)).every(Number.isNaN)).toBe(true);
    arena.release();
  });
});

describe('WasmKernels element-wise kernels', () => {
  it('activate: the logistic within 2.5e-7 relative of float64 (normal results), saturating to 1 or ≤ 1.2e-38 without Inf or NaN up to |z| = 1e30 and beyond; clip to [0, 1]; NaN kept', () => {
    const z = Array.from({ length: 4001 }, (_, i) => -100 + i * 0.05);
    const rng = new Rng(3);
    const special = [Number.NaN, 0.5, 87.5, -88.7, 1e30, -1e30, 3.4e38, -3.4e38, Infinity, -Infinity, 0, -0, 1e-30, -1e-30];
    z.push(...rng.uniformArray(20000, -30, 30), ...special);
    // the special values last (the loop's tail) and first (its four-vector body)
    const orders = [z, [...special, ...z.slice(0, z.length - special.length)]];
    const arena = new Arena(K);
    for (const [kind, z] of [LOGISTIC, CLIP01].flatMap((k) => orders.map((o) => [k, o] as const))) {
      const p = arena.put(z);
      const out = arena.alloc(z.length);
      K.fn.activate(p, out, z.length, kind);
      const got = K.view(out, z.length);
      let worst = 0;
      z.forEach((x, i) => {
        if (Number.isNaN(x)) return expect(got[i]).toBeNaN();
        expect(Number.isFinite(got[i])).toBe(true);
        const x32 = Math.fround(x); // what the kernel sees
        if (kind === CLIP01) return expect(got[i] + 0).toBe(Math.min(1, Math.max(0, x32)) + 0); // (−0 and 0 alike)
        const want = 1 / (1 + Math.exp(-x32));
        if (want >= 1.2e-38) worst = Math.max(worst, Math.abs(got[i] - want) / want);
        else expect(got[i]).toBeLessThanOrEqual(1.2e-38);
      });
      if (kind === LOGISTIC) expect(worst).toBeLessThan(2.5e-7);
    }
    arena.release();
  });

  it('activate, lerp, nudge, scaled_diff, affine, axpy, momentum, adam: a value gives the same result wherever its range starts and ends (full vectors and the last len % 4 values alike)', () => {
    const rng = new Rng(4);
    const n = 23;
    const inputs = Array.from({ length: 6 }, () => rng.uniformArray(n, -3, 3));
    inputs[5] = inputs[5].map(Math.abs); // Adam's second moment
    const run = (start: number, len: number, into: number[]) => {
      const arena = new Arena(K);
      const [a, b, c, d, e, f] = inputs.map((v) => arena.put(v));
      const at = (p: number) => p + 4 * start;
      K.fn.activate(at(a), at(a), len, LOGISTIC);
      K.fn.activate(at(b), at(e), len, CLIP01);
      K.fn.lerp(at(c), at(a), at(b), len, 0.3);
      K.fn.nudge(at(d), at(d), at(a), at(c), len, 2, 0.25);
      K.fn.scaled_diff(at(b), at(b), at(c), len, -0.7);
      K.fn.affine(at(c), len, 0.5, 4);
      K.fn.axpy(at(e), at(a), len, -0.1);
      K.fn.momentum(at(a), at(b), at(c), len, 0.9, 0.01);
      K.fn.adam(at(d), at(e), at(b), at(f), len, 0.9, 0.999, 1e-3, 1e-8);
      for (const p of [a, b, c, d, e, f]) into.push(...K.view(at(p), len));
      arena.release();
    };
    const whole: number[] = [];
    run(0, n, whole);
    // the same values in pieces of 1, 2, 3, 5 and 12
    const pieces: number[][] = [[], [], [], [], [], []];
    let start = 0;
    for (const len of [1, 2, 3, 5, 12]) {
      const got: number[] = [];
      run(start, len, got);
      for (let j = 0; j < 6; j++) pieces[j].push(...got.slice(j * len, (j + 1) * len));
      start += len;
    }
    expect(pieces.flat()).toEqual(whole);
  });

  it('lerp, axpy, nudge, scaled_diff and affine give the float32 arithmetic they name', () => {
    const arena = new Arena(K);
    const s = [1, 2, 3, 4, 5];
    const t = [5, 4, 3, 2, 1.5];
    const f = Math.fround;
    const [ps, pt, out] = [arena.put(s), arena.put(t), arena.alloc(5)];
    K.fn.lerp(out, ps, pt, 5, 0.25);
    expect(Array.from(K.view(out, 5))).toEqual(s.map((v, i) => f(f(v * 0.75) + f(t[i] * 0.25))));
    K.fn.nudge(out, ps, pt, ps, 5, 2, 0.3);
    expect(Array.from(K.view(out, 5))).toEqual(s.map((v, i) => f(v + f(f((t[i] - v) * 2) * f(0.3)))));
    K.fn.scaled_diff(out, pt, ps, 5, 0.1);
    expect(Array.from(K.view(out, 5))).toEqual(s.map((v, i) => f((t[i] - v) * f(0.1))));
    K.fn.scaled_diff(out, pt, 0, 5, 3);
    expect(Array.from(K.view(out, 5))).toEqual(t.map((v) => v * 3));
    K.fn.affine(out, 5, 0.5, 4);
    expect(Array.from(K.view(out, 5))).toEqual(t.map((v) => (v * 3 - 0.5) * 4));
    K.fn.axpy(ps, pt, 5, -2);
    expect(Array.from(K.view(ps, 5))).toEqual(s.map((v, i) => v - 2 * t[i]));
    arena.release();
  });
});

describe('WasmKernels layout kernels', () => {
  it('transpose, colsum (in row order, scaled), row_change (largest |a − b| per row, accumulated), copy', () => {
    const rng = new Rng(5);
    const [rows, cols, ld] = [7, 6, 9];
    const src = rng.uniformArray(rows * ld, -1, 1);
    const arena = new Arena(K);
    const ps = arena.put(src);
    const dst = arena.alloc(cols * (rows + 1));
    K.fn.transpose(ps, ld, dst, rows + 1, rows, cols);
    const t = K.view(dst, cols * (rows + 1));
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expect(t[j * (rows + 1) + i]).toBe(src[i * ld + j]);
    const sums = arena.alloc(cols);
    K.fn.colsum(ps, ld, sums, rows, cols, -0.5);
    const want = Array.from({ length: cols }, (_, j) => {
      let s = 0;
      for (let i = 0; i < rows; i++) s = Math.fround(s + src[i * ld + j]);
      return Math.fround(s * -0.5);
    });
    expect(Array.from(K.view(sums, cols))).toEqual(want);
    const other = rng.uniformArray(rows * ld, -1, 1);
    const po = arena.put(other);
    const change = arena.put(new Float32Array(rows).fill(0.9));
    K.fn.row_change(ps, po, change, rows, ld, 1);
    const got = K.view(change, rows);
    for (let i = 0; i < rows; i++) {
      let m = 0.9;
      for (let j = 0; j < ld; j++) m = Math.max(m, Math.abs(Math.fround(src[i * ld + j] - other[i * ld + j])));
      expect(got[i]).toBe(Math.fround(m));
    }
    K.fn.copy(po, ps, 5);
    expect(Array.from(K.view(po, 6))).toEqual([...Array.from(src.slice(0, 5)), other[5]]);
    arena.release();
  });

  it('nonfinite: 0 for finite values (huge ones too: no sum that overflows), NaN for a NaN or ±Inf anywhere, the last len % 4 included', () => {
    const arena = new Arena(K);
    const out = arena.alloc(1);
    for (const len of [1, 3, 4, 17, 64, 67]) {
      const v = new Float32Array(len).fill(3e38);
      const p = arena.put(v);
      K.fn.nonfinite(p, len, out);
      expect(K.view(out, 1)[0]).toBe(0);
      for (const bad of [Number.NaN, Infinity, -Infinity])
        for (const at of [0, len - 1, len >> 1]) {
          K.view(p, len)[at] = bad;
          K.fn.nonfinite(p, len, out);
          expect(K.view(out, 1)[0]).toBeNaN();
          K.view(p, len)[at] = 1;
        }
      // a non-finite value just past the range is not counted
      const q = arena.put([...new Array(len).fill(1), Number.NaN]);
      K.fn.nonfinite(q, len, out);
      expect(K.view(out, 1)[0]).toBe(0);
    }
    arena.release();
  });

  it('the heap gives freed bytes back: a batch that allocates and frees leaves the memory as it was', () => {
    const k = WasmKernels.create();
    const before = k.bytesInUse;
    const keep = k.alloc(100);
    let size = 0;
    for (let i = 0; i < 20; i++) {
      if (i === 1) size = k.memory.buffer.byteLength;
      const arena = new Arena(k);
      arena.alloc(50000);
      arena.put(new Float32Array(3000).fill(1));
      arena.alloc(7);
      arena.release();
    }
    expect(size).toBeGreaterThan(65536); // the first batch grew it
    expect(k.memory.buffer.byteLength).toBe(size); // the others reused its bytes
    k.free(keep);
    expect(k.bytesInUse).toBe(before);
    // a new block is zero-filled even where an old one held values
    const p = k.alloc(3000);
    expect(k.view(p, 3000).every((v) => v === 0)).toBe(true);
  });
});
