import { ConfigError, hasSyncReads, tf } from '@eqprop/core';

/**
 * Refuses, in one line, a command that reads the backend synchronously (the baselines, GDU, the
 * sweeps' workers) on a backend whose reads are asynchronous (WebGPU): `eqprop train`, `eval`,
 * `bench` and `gpu-check` run there.
 */
export function requireSyncReads(what: string): void {
  if (hasSyncReads()) return;
  throw new ConfigError(
    `${what} reads the backend synchronously, which ${tf.getBackend()} cannot: run it with --backend wasm (on WebGPU: eqprop train, eval, bench, gpu-check)`,
  );
}
