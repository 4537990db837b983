import { base64ToBytes } from '@eqprop/core';
import { Heap } from './heap.js';
import { KERNELS_WASM_BASE64, KERNELS_WASM_SHARED_BASE64 } from './kernels-wasm.js';

/** A WebAssembly memory (its types live in lib.dom, which this package does not load). */
export interface WasmMemory {
  buffer: ArrayBufferLike;
  grow(pages: number): number;
}

/** The part of the WebAssembly API used here. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (desc: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** What kernels.wat exports: pointers are byte offsets, sizes and leading dimensions element counts. */
export interface KernelExports {
  /** c = init + a·b (ldi 0: one init row for all; init 0: none; init may be c). */
  gemm_nn(a: number, lda: number, b: number, ldb: number, init: number, ldi: number, c: number, ldc: number, m: number, n: number, k: number): void;
  /**
   * c = bias + a·b skipping a's zeros (list: m + 2·m·k words of scratch); equal to gemm_nn where b is
   * finite. bias: one row for all, or 0.
   */
  gemm_sp(a: number, lda: number, b: number, ldb: number, bias: number, c: number, ldc: number, m: number, n: number, k: number, list: number): void;
  /** c = init + a·btᵀ, bt [n×k]. */
  gemm_nt(a: number, lda: number, bt: number, ldb: number, init: number, ldi: number, c: number, ldc: number, m: number, n: number, k: number): void;
  /** out = act(z): LOGISTIC or CLIP01 (out may be z). */
  activate(z: number, out: number, len: number, kind: number): void;
  /** out = s·(1 − eps) + t·eps. */
  lerp(out: number, s: number, t: number, len: number, eps: number): void;
  /** out = z + ((y − s)·force)·scale. */
  nudge(out: number, z: number, y: number, s: number, len: number, force: number, scale: number): void;
  /** out = (a − b)·c, or a·c where b is 0. */
  scaled_diff(out: number, a: number, b: number, len: number, c: number): void;
  /** v ← (v − centre)·gain. */
  affine(v: number, len: number, centre: number, gain: number): void;
  /** y ← y + a·x. */
  axpy(y: number, x: number, len: number, a: number): void;
  /** s ← mom·s + g; p ← p − lr·s. */
  momentum(p: number, g: number, s: number, len: number, mom: number, lr: number): void;
  adam(p: number, g: number, m: number, v: number, len: number, b1: number, b2: number, step: number, eps: number): void;
  copy(dst: number, src: number, len: number): void;
  /** dst[j, i] = src[i, j]. */
  transpose(src: number, lds: number, dst: number, ldd: number, rows: number, cols: number): void;
  /** out[j] = (Σ_i src[i, j])·scale. */
  colsum(src: number, lds: number, out: number, rows: number, cols: number, scale: number): void;
  /** out[r] = max(acc ? out[r] : 0, max_j |a − b|) per row. */
  row_change(a: number, b: number, out: number, rows: number, width: number, acc: number): void;
  /** out[0] = Σ x·0: 0 where every value is finite, NaN otherwise. */
  nonfinite(p: number, len: number, out: number): void;
  /** Runs `count` program records at `prog` (program.ts). */
  run(prog: number, count: number): void;
}

/** Activation codes of `activate`. */
export const LOGISTIC = 1;
export const CLIP01 = 2;

/** Pages of 64 KiB: the most a memory may grow to (4 GiB, wasm32's limit; address space only). */
const MAX_PAGES = 65536;

const compiled: { shared?: object; plain?: object } = {};

/** The compiled module (once per process): the shared-memory build or the plain one. */
export function kernelModule(shared: boolean): object {
  if (shared) compiled.shared ??= new wasm.Module(base64ToBytes(KERNELS_WASM_SHARED_BASE64));
  else compiled.plain ??= new wasm.Module(base64ToBytes(KERNELS_WASM_BASE64));
  return (shared ? compiled.shared : compiled.plain)!;
}

/** A memory for the kernels: shared between threads, or plain. */
export function kernelMemory(shared: boolean): WasmMemory {
  return new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared });
}

/** Whether this runtime can share a kernel memory between threads (SharedArrayBuffer, shared wasm memories). */
export function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  try {
    return kernelMemory(true).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/** An instance of the module on `memory`. */
export function instantiate(memory: WasmMemory, shared: boolean): KernelExports {
  return new wasm.Instance(kernelModule(shared), { env: { memory } }).exports as unknown as KernelExports;
}

/**
 * The SIMD module on a memory, with an allocator over it (Heap). Float32 blocks are 16-byte
 * aligned; owners free what they allocate. Threads (KernelTeam) share one memory, each with an
 * instance of its own; this is the main thread's.
 */
export class WasmKernels {
  readonly fn: KernelExports;
  private readonly heap: Heap;

  constructor(
    readonly memory: WasmMemory = kernelMemory(false),
    readonly shared = false,
  ) {
    this.fn = instantiate(memory, shared);
    this.heap = new Heap(memory);
  }

  /** An instance with a plain memory of its own. */
  static create(): WasmKernels {
    return new WasmKernels();
  }

  /** Whether this runtime has WebAssembly SIMD (Node ≥ 16.4, every current browser). */
  static supported(): boolean {
    try {
      kernelModule(false);
      return true;
    } catch {
      return false;
    }
  }

  /** Reserves `len` zero floats (rounded up to a multiple of 4); returns the byte offset. */
  alloc(len: number): number {
    return this.heap.alloc(Math.max(len, 1) * 4);
  }

  free(ptr: number): void {
    this.heap.free(ptr);
  }

  /** Bytes allocated and not freed. */
  get bytesInUse(): number {
    return this.heap.used;
  }

  /** A view of `len` floats at `ptr` (valid until the memory grows: take views after allocating). */
  view(ptr: number, len: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, len);
  }

  /** Allocates and copies `values` in. */
  put(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length);
    this.view(ptr, values.length).set(values);
    return ptr;
  }
}

/** Blocks allocated together and freed together (a relaxation's arrays). */
export class Arena {
  private readonly blocks: number[] = [];

  constructor(readonly K: WasmKernels) {}

  alloc(len: number): number {
    const p = this.K.alloc(len);
    this.blocks.push(p);
    return p;
  }

  put(values: ArrayLike<number>): number {
    const p = this.K.put(values);
    this.blocks.push(p);
    return p;
  }

  release(): void {
    for (const p of this.blocks.splice(0)) this.K.free(p);
  }
}
