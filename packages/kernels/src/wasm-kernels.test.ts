import { Rng } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { CLIP01, LOGISTIC, WasmKernels } from './wasm-kernels.js';

const K = WasmKernels.create();

function product(a: number[], b: number[], m: number, n: number, k: number, transposedB: boolean, init?: number[]): number[] {
  return Array.from({ length: m * n }, (_, idx) => {
    const [i, j] = [Math.floor(idx / n), idx % n];
    let s = init ? init[idx] : 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * (transposedB ? b[j * k + p] : b[p * n + j]);
    return s;
  });
}

describe('WasmKernels', () => {
  const rng = new Rng(7);
  // widths that take the 16-column blocks, the 4-column rest, odd row counts and an odd last row of bᵀ
  const shapes: [number, number, number][] = [
    [3, 8, 5],
    [5, 20, 7],
    [1, 36, 12],
    [4, 5, 8],
  ];
  for (const [m, n, k] of shapes) {
    for (const withInit of [false, true]) {
      it(`mm_nn and mm_nt give the float64 product ${m}×${k} by ${k}×${n}${withInit ? ' plus an init matrix' : ''}`, () => {
        const a = rng.uniformArray(m * k, -1, 1);
        const b = rng.uniformArray(k * n, -1, 1);
        const bt = Array.from({ length: k * n }, (_, i) => b[(i % k) * n + Math.floor(i / k)]);
        const init = withInit ? rng.uniformArray(m * n, -1, 1) : undefined;
        const want = product(Array.from(a), Array.from(b), m, n, k, false, init && Array.from(init));
        expect(product(Array.from(a), bt, m, n, k, true, init && Array.from(init))).toEqual(want.map((w) => expect.closeTo(w, 12)));
        const mark = K.mark();
        const [pa, pb, pbt] = [K.put(a), K.put(b), K.put(bt)];
        const forms: ['nn' | 'nt', boolean][] = [
          ['nn', n % 4 === 0],
          ['nt', k % 4 === 0],
        ];
        for (const [form, fits] of forms) {
          if (!fits) continue;
          const c = K.alloc(m * n);
          const pi = init ? K.put(init) : 0;
          if (form === 'nn') K.fn.mm_nn(pa, pb, pi, c, m, n, k);
          else K.fn.mm_nt(pa, pbt, pi, c, m, n, k);
          const got = K.view(c, m * n);
          want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThan(1e-5));
        }
        K.release(mark);
      });
    }
  }

  it('activate: the logistic within 2e-7 of float64 over [−100, 100], clip to [0, 1], NaN kept', () => {
    const z = Array.from({ length: 2001 }, (_, i) => -100 + i * 0.1);
    z.push(Number.NaN, 0.5, 87.5, -88.7);
    const mark = K.mark();
    for (const kind of [LOGISTIC, CLIP01]) {
      const p = K.put(z);
      K.fn.activate(p, Math.ceil(z.length / 4) * 4, kind);
      const got = K.view(p, z.length);
      z.forEach((x, i) => {
        if (Number.isNaN(x)) return expect(got[i]).toBeNaN();
        const x32 = Math.fround(x); // what the kernel sees
        const want = kind === LOGISTIC ? 1 / (1 + Math.exp(-x32)) : Math.min(1, Math.max(0, x32));
        expect(Math.abs(got[i] - want)).toBeLessThanOrEqual(2e-7 * Math.max(want, 1e-30) + 1e-38);
      });
    }
    K.release(mark);
  });

  it('lerp and axpy', () => {
    const mark = K.mark();
    const s = [1, 2, 3, 4, 5];
    const t = [5, 4, 3, 2, 1];
    const [ps, pt, out] = [K.put(s), K.put(t), K.alloc(5)];
    K.fn.lerp(out, ps, pt, 8, 0.25);
    expect(Array.from(K.view(out, 5))).toEqual(s.map((v, i) => Math.fround(Math.fround(v * 0.75) + Math.fround(t[i] * 0.25))));
    K.fn.axpy(ps, pt, 8, -2);
    expect(Array.from(K.view(ps, 5))).toEqual(s.map((v, i) => v - 2 * t[i]));
    K.release(mark);
  });
});
