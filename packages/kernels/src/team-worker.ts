/**
 * The body of a kernel worker thread, run from its source text (`new Worker(source, { eval: true })`,
 * so that it needs no file of its own next to the bundle, nor any of our modules): it instantiates
 * the module on the shared memory and runs the programs the main thread posts in its control slot,
 * until told to stop. It must reference nothing outside itself.
 *
 * Slot words (Int32 at slot·8): 0 go (a sequence number the main thread raises), 1 done (the number
 * it has finished), 2 program offset, 3 record count, 4 error (1: the last program trapped), 5 stop,
 * 6 dead (1: the module could not be instantiated; the thread has ended).
 */
export function kernelWorkerMain(data: { module: object; memory: object; control: SharedArrayBuffer; slot: number }): void {
  const api = (globalThis as unknown as { WebAssembly: { Instance: new (m: object, i: object) => { exports: unknown } } }).WebAssembly;
  const ctl = new Int32Array(data.control);
  const base = data.slot * 8;
  let run: (p: number, n: number) => void;
  try {
    run = (new api.Instance(data.module, { env: { memory: data.memory } }).exports as { run(p: number, n: number): void }).run;
  } catch {
    Atomics.store(ctl, base + 6, 1);
    Atomics.notify(ctl, base + 1);
    return;
  }
  let seen = 0;
  for (;;) {
    // spin a while (within a batch the next program follows in microseconds; waking a sleeping
    // thread costs tens), then sleep; the main thread's `wake` (a notify) starts another spin
    let since = performance.now();
    for (let spins = 1; Atomics.load(ctl, base) === seen; spins++) {
      if ((spins & 255) === 0 && performance.now() - since > 0.2) {
        Atomics.wait(ctl, base, seen);
        since = performance.now();
      }
    }
    seen = Atomics.load(ctl, base);
    if (Atomics.load(ctl, base + 5)) return;
    let failed = 0;
    try {
      run(ctl[base + 2], ctl[base + 3]);
    } catch {
      failed = 1;
    }
    Atomics.store(ctl, base + 4, failed);
    Atomics.store(ctl, base + 1, seen);
    Atomics.notify(ctl, base + 1);
  }
}

/** The worker's source: the function above, called with the worker's data. */
export function kernelWorkerSource(): string {
  return `(${kernelWorkerMain.toString()})(require('node:worker_threads').workerData);`;
}
