import { tf } from '@eqprop/core';

/** Median wall time (ms) of `fn` over `runs` runs after `warmup` runs. */
export function medianMs(fn: () => void, runs = 5, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** The backend's own float32 matmul rate in GFLOP/s for an m×k by k×n product (median). */
export function matmulRate(m: number, k: number, n: number, runs = 7): number {
  const a = tf.randomUniform([m, k]);
  const b = tf.randomUniform([k, n]);
  const ms = medianMs(
    () => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    },
    runs,
    2,
  );
  a.dispose();
  b.dispose();
  return (2 * m * k * n) / (ms * 1e6);
}

/**
 * `matmulRate` with asynchronous reads, for every backend (WebGPU in Node has no dataSync): the
 * median over `runs` products, each read back before the next starts.
 */
export async function matmulRateAsync(m: number, k: number, n: number, runs = 7): Promise<number> {
  const a = tf.randomUniform([m, k]);
  const b = tf.randomUniform([k, n]);
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    if (i >= 2) times.push(performance.now() - t0);
  }
  tf.dispose([a, b]);
  times.sort((x, y) => x - y);
  return (2 * m * k * n) / (times[Math.floor(times.length / 2)] * 1e6);
}

let peakRss = 0;
/** Samples the resident set size; the suite reports the peak it saw. */
export function samplePeakMemory(): number {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return peakRss;
}
