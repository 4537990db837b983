import * as tf from '@tensorflow/tfjs';

/** What a host read returns: the tensor's values. */
export type HostValues = Float32Array | Int32Array | Uint8Array;

/**
 * A computation whose host reads are explicit. It yields every tensor whose values it needs and is
 * resumed with them, so the same code runs on backends that read synchronously (wasm, cpu, webgl:
 * `runSync`) and on those that can only read asynchronously (WebGPU in Node, where `dataSync` needs
 * an OffscreenCanvas, and in browsers its sync reads are unreliable: `runAsync`). Write one with
 * `function*` and `yield* readValues(t)`.
 */
export type Reads<T> = Generator<tf.Tensor, T, HostValues>;

/** Reads `t`'s values inside a Reads program; `t` stays the caller's. */
export function* readValues(t: tf.Tensor): Reads<HostValues> {
  return yield t;
}

/** Reads and disposes `t` inside a Reads program (the usual case: a reduction made for the read). */
export function* readOnce(t: tf.Tensor): Reads<HostValues> {
  try {
    return yield t;
  } finally {
    t.dispose();
  }
}

/** Runs a Reads program with synchronous reads (`dataSync`): wasm, cpu, webgl. */
export function runSync<T>(program: Reads<T>): T {
  let next = program.next();
  while (!next.done) next = program.next(next.value.dataSync() as HostValues);
  return next.value;
}

/** Runs a Reads program with asynchronous reads (`await data()`): every backend, WebGPU in Node included. */
export async function runAsync<T>(program: Reads<T>): Promise<T> {
  let next = program.next();
  while (!next.done) next = program.next((await next.value.data()) as HostValues);
  return next.value;
}

/**
 * Whether the active backend can read synchronously. Not WebGPU: in Node its `dataSync` needs an
 * OffscreenCanvas, and in Chromium (147, SwiftShader) a `dataSync` returned zeros and then lost
 * the device (measured in the demo), so WebGPU reads are always asynchronous.
 */
export function hasSyncReads(): boolean {
  return tf.getBackend() !== 'webgpu';
}

/** Runs a Reads program the way the active backend reads: synchronously where it can (no promise per read), else asynchronously. */
export function runOnBackend<T>(program: Reads<T>): Promise<T> {
  if (!hasSyncReads()) return runAsync(program);
  try {
    return Promise.resolve(runSync(program));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Brings tensors' values to the host so that later `dataSync` calls on them work on every backend
 * (tfjs caches what an asynchronous read fetched): for code off the hot path, such as saving a
 * checkpoint, that reads many tensors synchronously.
 */
export async function fetchToHost(tensors: Iterable<tf.Tensor>): Promise<void> {
  if (hasSyncReads()) return;
  await Promise.all([...tensors].map((t) => t.data()));
}
