/**
 * A list of kernel calls that one thread runs as a single call into the module (kernels.wat's
 * `run`): records of 12 32-bit words, an op code and the kernel's arguments in order (f32 ones as
 * their bits). A phase's share for a thread is one program, so a worker needs no JavaScript of
 * ours: it runs what it is given, and its results are those of the same calls on the main thread.
 */
export class Program {
  private words = new Int32Array(12 * 32);
  private floats = new Float32Array(this.words.buffer);
  /** Records written. */
  count = 0;

  /** The records as words (a view: valid until the next call). */
  get data(): Int32Array {
    return this.words.subarray(0, this.count * 12);
  }

  private record(op: number, ints: number[], floats: number[] = []): this {
    if ((this.count + 1) * 12 > this.words.length) {
      const bigger = new Int32Array(this.words.length * 2);
      bigger.set(this.words);
      this.words = bigger;
      this.floats = new Float32Array(bigger.buffer);
    }
    const at = this.count * 12;
    this.words[at] = op;
    ints.forEach((v, i) => (this.words[at + 1 + i] = v));
    floats.forEach((v, i) => (this.floats[at + 1 + ints.length + i] = v));
    this.count++;
    return this;
  }

  /** c = init + a·b (row-major, leading dimensions; ldi 0: one init row for all; init 0: none). */
  gemmNN(a: number, lda: number, b: number, ldb: number, init: number, ldi: number, c: number, ldc: number, m: number, n: number, k: number): this {
    return m > 0 && n > 0 ? this.record(1, [a, lda, b, ldb, init, ldi, c, ldc, m, n, k]) : this;
  }

  /** c = bias + a·b over a's nonzero values only (a sparse input); `list`: scratch of m + 2·m·k words. */
  gemmSparse(a: number, lda: number, b: number, ldb: number, bias: number, c: number, ldc: number, m: number, n: number, k: number, list: number): this {
    return m > 0 && n > 0 ? this.record(16, [a, lda, b, ldb, bias, c, ldc, m, n, k, list]) : this;
  }

  /** c = init + a·btᵀ, bt [n×k] with leading dimension ldb. */
  gemmNT(a: number, lda: number, bt: number, ldb: number, init: number, ldi: number, c: number, ldc: number, m: number, n: number, k: number): this {
    return m > 0 && n > 0 ? this.record(2, [a, lda, bt, ldb, init, ldi, c, ldc, m, n, k]) : this;
  }

  activate(z: number, out: number, len: number, kind: number): this {
    return len > 0 ? this.record(3, [z, out, len, kind]) : this;
  }

  lerp(out: number, s: number, t: number, len: number, eps: number): this {
    return len > 0 ? this.record(4, [out, s, t, len], [eps]) : this;
  }

  axpy(y: number, x: number, len: number, a: number): this {
    return len > 0 ? this.record(5, [y, x, len], [a]) : this;
  }

  momentum(p: number, g: number, s: number, len: number, mom: number, lr: number): this {
    return len > 0 ? this.record(6, [p, g, s, len], [mom, lr]) : this;
  }

  adam(p: number, g: number, m: number, v: number, len: number, b1: number, b2: number, step: number, eps: number): this {
    return len > 0 ? this.record(7, [p, g, m, v, len], [b1, b2, step, eps]) : this;
  }

  nudge(out: number, z: number, y: number, s: number, len: number, force: number, scale: number): this {
    return len > 0 ? this.record(8, [out, z, y, s, len], [force, scale]) : this;
  }

  rowChange(a: number, b: number, out: number, rows: number, width: number, acc: boolean): this {
    return rows > 0 ? this.record(9, [a, b, out, rows, width, acc ? 1 : 0]) : this;
  }

  transpose(src: number, lds: number, dst: number, ldd: number, rows: number, cols: number): this {
    return rows > 0 && cols > 0 ? this.record(10, [src, lds, dst, ldd, rows, cols]) : this;
  }

  copy(dst: number, src: number, len: number): this {
    return len > 0 && dst !== src ? this.record(11, [dst, src, len]) : this;
  }

  affine(v: number, len: number, centre: number, gain: number): this {
    return len > 0 && !(centre === 0 && gain === 1) ? this.record(12, [v, len], [centre, gain]) : this;
  }

  colsum(src: number, lds: number, out: number, rows: number, cols: number, scale: number): this {
    return cols > 0 ? this.record(13, [src, lds, out, rows, cols], [scale]) : this;
  }

  /** out[0] = 0 where the len values at p are finite, NaN where one is not. */
  nonfinite(p: number, len: number, out: number): this {
    return this.record(15, [p, len, out]);
  }

  /** out = (a − b)·c, or a·c where b is 0. */
  scaledDiff(out: number, a: number, b: number, len: number, c: number): this {
    return len > 0 ? this.record(14, [out, a, b, len], [c]) : this;
  }
}
