import { base64ToBytes } from '@eqprop/core';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** The part of the WebAssembly API used here (its types live in lib.dom, which this package does not load). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** What kernels.wat exports: pointers are byte offsets into `memory`, sizes element counts. */
interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** c[m×n] = init[m×n] + a[m×k]·b[k×n]; init 0: none, may be c; n % 4 == 0. */
  mm_nn(a: number, b: number, init: number, c: number, m: number, n: number, k: number): void;
  /** c[m×n] = init[m×n] + a[m×k]·bt[n×k]ᵀ; init 0: none, may be c; k % 4 == 0. */
  mm_nt(a: number, bt: number, init: number, c: number, m: number, n: number, k: number): void;
  /** out = s·(1 − eps) + t·eps. */
  lerp(out: number, s: number, t: number, len: number, eps: number): void;
  activate(z: number, len: number, kind: number): void;
  /** y ← y + a·x. */
  axpy(y: number, x: number, len: number, a: number): void;
  /** s ← mom·s + g; p ← p − lr·s. */
  momentum(p: number, g: number, s: number, len: number, mom: number, lr: number): void;
  adam(p: number, g: number, m: number, v: number, len: number, b1: number, b2: number, step: number, eps: number): void;
}

/** Activation codes of `activate`. */
export const LOGISTIC = 1;
export const CLIP01 = 2;

let shared: WasmKernels | undefined;

/**
 * The SIMD module and a bump allocator over its memory. Float32 blocks are 16-byte aligned and
 * padded to a multiple of 4 values (the kernels work 4 lanes at a time). `reset` frees everything
 * at once: a relaxation or an optimizer step lays out its arrays, works, and releases them.
 */
export class WasmKernels {
  readonly fn: KernelExports;
  private top = 16; // offset 0 stays unused: a 0 pointer means "none" (bias)

  private constructor() {
    const bytes = base64ToBytes(KERNELS_WASM_BASE64);
    this.fn = new wasm.Instance(new wasm.Module(bytes)).exports as unknown as KernelExports;
  }

  /** The instance of this thread that relaxations share (their arrays live from mark to release). */
  static get(): WasmKernels {
    shared ??= new WasmKernels();
    return shared;
  }

  /** An instance with a memory of its own: for arrays that outlive a call (an optimizer's moments). */
  static create(): WasmKernels {
    return new WasmKernels();
  }

  /** Whether this runtime has WebAssembly SIMD (Node ≥ 16.4, every current browser). */
  static supported(): boolean {
    try {
      WasmKernels.get();
      return true;
    } catch {
      return false;
    }
  }

  /** Reserves `len` floats (rounded up to a multiple of 4, zero-filled); returns the byte offset. */
  alloc(len: number): number {
    const ptr = this.top;
    const bytes = Math.ceil(len / 4) * 16;
    this.top += bytes;
    const have = this.fn.memory.buffer.byteLength;
    if (this.top > have) this.fn.memory.grow(Math.ceil((this.top - have) / 65536));
    new Float32Array(this.fn.memory.buffer, ptr, bytes / 4).fill(0);
    return ptr;
  }

  /** The offset the next alloc returns: pass it to `release` to free everything allocated since. */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }

  /** A view of `len` floats at `ptr` (valid until the memory grows: take views after allocating). */
  view(ptr: number, len: number): Float32Array {
    return new Float32Array(this.fn.memory.buffer, ptr, len);
  }

  /** Allocates and copies `values` in. */
  put(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length);
    this.view(ptr, values.length).set(values);
    return ptr;
  }
}
