import { tf, DataFormatError, serializeTensor, deserializeTensor, type Params, type SerializedTensor } from '@eqprop/core';

export type SavedParams = Record<string, SerializedTensor>;

export function saveParams(params: Params): SavedParams {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, serializeTensor(v)]));
}

/** Loads saved values into `params`, checking names and shapes first so nothing is half-written. */
export function loadParams(params: Params, saved: SavedParams): void {
  if (typeof saved !== 'object' || saved === null) throw new DataFormatError('saved parameters must be an object');
  for (const [name, v] of Object.entries(params)) {
    const s = saved[name];
    if (!s) throw new DataFormatError(`saved parameters lack "${name}"`);
    if (!Array.isArray(s.shape) || s.shape.join(',') !== v.shape.join(',')) {
      throw new DataFormatError(`saved "${name}" has shape [${s.shape}], expected [${v.shape}]`);
    }
  }
  const values = Object.fromEntries(Object.keys(params).map((name) => [name, deserializeTensor(saved[name])]));
  for (const [name, v] of Object.entries(params)) {
    v.assign(values[name]);
    values[name].dispose();
  }
}

/** An independent copy of the current values (e.g. to start a baseline from the same weights). */
export function cloneParams(params: Params): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.clone(v)]));
}
