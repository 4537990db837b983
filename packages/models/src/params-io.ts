import { DataFormatError, deserializeTensor, type Params, type SerializedTensor, serializeTensor, tf } from '@eqprop/core';

export type SavedParams = Record<string, SerializedTensor>;

export function saveParams(params: Params): SavedParams {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, serializeTensor(v)]));
}

/** Loads saved values into `params`, checking names and shapes first so nothing is half-written. */
export function loadParams(params: Params, saved: SavedParams): void {
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) throw new DataFormatError('saved parameters must be an object');
  for (const [name, v] of Object.entries(params)) {
    const s = Object.hasOwn(saved, name) ? saved[name] : undefined;
    if (typeof s !== 'object' || s === null) throw new DataFormatError(`saved parameters lack "${name}"`);
    if (!Array.isArray(s.shape) || s.shape.length !== v.rank || s.shape.some((d, i) => d !== v.shape[i])) {
      throw new DataFormatError(`saved "${name}" has shape [${String(s.shape).slice(0, 40)}], expected [${v.shape}]`);
    }
    if (s.dtype !== v.dtype) throw new DataFormatError(`saved "${name}" has dtype ${JSON.stringify(s.dtype)}, expected "${v.dtype}"`);
  }
  const values: Record<string, tf.Tensor> = {};
  try {
    for (const name of Object.keys(params)) values[name] = deserializeTensor(saved[name]);
  } catch (e) {
    for (const t of Object.values(values)) t.dispose();
    throw e;
  }
  for (const [name, v] of Object.entries(params)) {
    v.assign(values[name]);
    values[name].dispose();
  }
}

/** An independent copy of the current values (e.g. to start a baseline from the same weights). */
export function cloneParams(params: Params): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.clone(v)]));
}
