import type { Worker } from 'node:worker_threads';
import { ConfigError } from '@eqprop/core';
import type { Program } from './program.js';
import { kernelWorkerSource } from './team-worker.js';
import { canShareMemory, kernelMemory, kernelModule, WasmKernels } from './wasm-kernels.js';

export interface KernelTeamOptions {
  /**
   * Threads that share a batch's work (the main one included). Default: 2 where worker threads
   * and shared memory exist and the machine has at least 2 cores, else 1. Where they do not exist
   * (a browser page without cross-origin isolation) the team has one thread, with the same results.
   */
  threads?: number;
}

/** Int32 words per worker in the control block (team-worker.ts names them). */
const SLOT = 8;

let single: KernelTeam | undefined;

/**
 * The threads that run the kernels: the main thread and `threads − 1` worker threads, one kernel
 * memory shared by all, each with its own instance of the module. Work is posted as one Program
 * per thread (`run`), synchronised with Atomics at the end of each run only: a phase's programs
 * hold all its steps. Every split of the work is by independent outputs (rows of a relaxation,
 * rows of a gradient, ranges of parameters), computed with the same operations in the same order
 * as on one thread, so results do not depend on the thread count.
 *
 * Worker threads are unref'd (they never keep a process alive) and terminated by `dispose`.
 */
export class KernelTeam {
  private readonly regions: { ptr: number; words: number }[] = [];
  private seq = 0;
  private disposed = false;

  private constructor(
    readonly K: WasmKernels,
    private readonly workers: Worker[] = [],
    private readonly control?: Int32Array,
  ) {}

  /** Threads in the team, the main one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** The process's one-thread team (a plain memory, no worker): what a kernel object uses when given none. Never disposed. */
  static single(): KernelTeam {
    single ??= new KernelTeam(new WasmKernels());
    return single;
  }

  /** A team of its own: with worker threads where asked for (or by default) and available. */
  static async start(opts: KernelTeamOptions = {}): Promise<KernelTeam> {
    const threads = opts.threads ?? (await defaultThreads());
    checkThreads(threads);
    const Worker = threads > 1 && canShareMemory() ? await workerClass() : undefined;
    if (!Worker) return new KernelTeam(new WasmKernels());
    const memory = kernelMemory(true);
    const control = new Int32Array(new SharedArrayBuffer(4 * SLOT * threads));
    const workers = Array.from(
      { length: threads - 1 },
      (_, i) => new Worker(kernelWorkerSource(), { eval: true, workerData: { module: kernelModule(true), memory, control: control.buffer, slot: i + 1 } }),
    );
    // referenced until they run (an unref'd worker would let the process exit while this awaits it)
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => w.once('online', resolve).once('error', reject))));
    for (const w of workers) w.unref();
    return new KernelTeam(new WasmKernels(memory, true), workers, control);
  }

  /** Rows [lo, hi) of `n` for each thread: contiguous shares, as even as can be. */
  split(n: number, threads = this.threads): [number, number][] {
    return Array.from({ length: threads }, (_, t) => [Math.floor((n * t) / threads), Math.floor((n * (t + 1)) / threads)]);
  }

  /**
   * Runs programs[t] on thread t (the first on this one) and returns when all have finished. A
   * program that traps (an out-of-bounds access) throws here once every thread has stopped.
   */
  run(programs: Program[]): void {
    if (this.disposed) throw new Error('kernel team: used after dispose');
    if (programs.length > this.threads) throw new Error(`kernel team: ${programs.length} programs for ${this.threads} threads`);
    const at = programs.map((p, t) => this.place(t, p));
    const seq = ++this.seq;
    const ctl = this.control!;
    for (let w = 1; w < programs.length; w++) {
      const base = w * SLOT;
      ctl[base + 2] = at[w];
      ctl[base + 3] = programs[w].count;
      Atomics.store(ctl, base, seq);
      Atomics.notify(ctl, base);
    }
    let error: unknown;
    try {
      if (programs.length > 0) this.K.fn.run(at[0], programs[0].count);
    } catch (e) {
      error = e;
    }
    for (let w = 1; w < programs.length; w++) {
      const base = w * SLOT;
      const since = performance.now();
      for (let spins = 1; Atomics.load(ctl, base + 1) !== seq; spins++) {
        if (Atomics.load(ctl, base + 6)) throw new Error(`kernel worker ${w}: the module could not be instantiated there`);
        // spin while the worker is likely about to finish, then sleep until it does
        if ((spins & 255) === 0 && performance.now() - since > 0.5) Atomics.wait(ctl, base + 1, Atomics.load(ctl, base + 1), 50);
      }
      if (ctl[base + 4] && !error) error = new Error(`kernel worker ${w}: its program trapped`);
    }
    if (error) throw error;
  }

  /**
   * Tells sleeping workers that programs follow shortly (they spin again for a while), so that
   * waking them overlaps the main thread's own preparation instead of delaying the next run.
   */
  wake(): void {
    const ctl = this.control;
    if (!ctl || this.disposed) return;
    for (let w = 1; w < this.threads; w++) Atomics.notify(ctl, w * SLOT);
  }

  /** Copies thread t's program into its region of the kernel memory (grown as needed); returns its offset. */
  private place(t: number, program: Program): number {
    const words = program.count * 12;
    let region = this.regions[t];
    if (!region || region.words < words) {
      if (region) this.K.free(region.ptr);
      region = { ptr: this.K.alloc(Math.max(words, 1024) * 2), words: Math.max(words, 1024) * 2 };
      this.regions[t] = region;
    }
    new Int32Array(this.K.memory.buffer, region.ptr, words).set(program.data);
    return region.ptr;
  }

  /** Stops and terminates the worker threads; the team cannot run afterwards. */
  dispose(): void {
    if (this.disposed || this === single) return;
    this.disposed = true;
    const ctl = this.control;
    this.workers.forEach((w, i) => {
      const base = (i + 1) * SLOT;
      if (ctl) {
        Atomics.store(ctl, base + 5, 1);
        Atomics.store(ctl, base, ++this.seq);
        Atomics.notify(ctl, base);
      }
      void w.terminate();
    });
  }
}

/** A thread count is a positive integer (64 at most: more would only wait on each other). */
export function checkThreads(threads: unknown): void {
  if (!(typeof threads === 'number' && Number.isInteger(threads) && threads >= 1 && threads <= 64))
    throw new ConfigError(`kernel threads must be an integer from 1 to 64, got ${JSON.stringify(threads)}`);
}

/** 2 where the machine has at least 2 cores (Node), else 1. */
async function defaultThreads(): Promise<number> {
  try {
    const os: typeof import('node:os') = await import(/* @vite-ignore */ nodeModule('os'));
    return (os.availableParallelism?.() ?? os.cpus().length) >= 2 ? 2 : 1;
  } catch {
    return 1;
  }
}

/** node:worker_threads' Worker, or undefined outside Node. */
async function workerClass(): Promise<typeof Worker | undefined> {
  try {
    const wt: typeof import('node:worker_threads') = await import(/* @vite-ignore */ nodeModule('worker_threads'));
    return wt.Worker;
  } catch {
    return undefined;
  }
}

/** A Node built-in's specifier, built at run time so that bundlers for browsers leave it alone. */
function nodeModule(name: string): string {
  return `node:${name}`;
}
