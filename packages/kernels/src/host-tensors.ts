import { tf } from '@eqprop/core';

/**
 * What the tfjs wasm backend offers custom kernels: a view of a tensor's bytes on its heap, and an
 * output tensor allocated there. Reading through dataSync would copy into a new ArrayBuffer each
 * time (1.6 MB per read of a 784×512 weight: the allocation cost more than the optimizer's pass).
 */
interface WasmBackendHeap {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

function wasmHeap(): WasmBackendHeap | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as Partial<WasmBackendHeap>;
  return backend.typedArrayFromHeap && backend.makeOutput ? (backend as WasmBackendHeap) : undefined;
}

/** Copies a float32 tensor's values into `dst` (no intermediate array on wasm). */
export function readInto(t: tf.Tensor, dst: Float32Array): void {
  const heap = wasmHeap();
  dst.set(heap ? heap.typedArrayFromHeap(t) : (t.dataSync() as Float32Array));
}

/** A new float32 tensor holding a copy of `src` (written straight into the wasm heap where it is one). */
export function tensorFrom(src: Float32Array, shape: number[]): tf.Tensor {
  const heap = wasmHeap();
  if (!heap) return tf.tensor(src.slice(), shape, 'float32'); // the cpu backend keeps the array it gets
  const info = heap.makeOutput(shape, 'float32');
  heap.typedArrayFromHeap(info).set(src);
  return tf.engine().makeTensorFromTensorInfo(info);
}
