import { ConfigError } from './errors.js';
/**
 * Seeded pseudo-random numbers (xoshiro128**). The whole state is four 32-bit words, so a
 * checkpoint can save it and a resumed run draws exactly the numbers it would have drawn.
 */
export type RngState = [number, number, number, number];

const isWord = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * A seed is an integer (any sign: it is taken modulo 2³²) or a saved state of exactly four 32-bit
 * words; anything else would be silently truncated, zero-filled or rounded into another stream.
 */
function checkSeed(seed: unknown): void {
  if (Array.isArray(seed)) {
    if (seed.length !== 4 || !seed.every(isWord)) {
      throw new ConfigError(`an Rng state must be four integers in 0 … 2^32 − 1 (from rng.getState()), got [${seed.join(', ')}]`);
    }
  } else if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new ConfigError(`an Rng seed must be an integer, got ${String(seed)}`);
  }
}

export class Rng {
  private s: Uint32Array;

  constructor(seed: number | RngState = 0) {
    this.s = new Uint32Array(4);
    checkSeed(seed);
    if (Array.isArray(seed)) {
      this.s.set(seed);
    } else {
      // splitmix32 spreads a small integer seed over the four words
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.s[i] = (z ^ (z >>> 16)) >>> 0;
      }
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** +1 or -1 with equal probability. */
  sign(): 1 | -1 {
    return this.next() < 0.5 ? 1 : -1;
  }

  /** Fisher–Yates shuffle of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** Uniform floats in [lo, hi). */
  uniformArray(n: number, lo: number, hi: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * this.next();
    return a;
  }

  /** An independent generator derived from this one (for workers, sub-tasks). */
  fork(): Rng {
    return new Rng([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32() | 1]);
  }

  getState(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  setState(state: RngState): void {
    if (!Array.isArray(state)) throw new ConfigError(`an Rng state must be four integers in 0 … 2^32 − 1 (from rng.getState()), got ${String(state)}`);
    checkSeed(state);
    this.s.set(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
