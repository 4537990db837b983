import { ConfigError, DataFormatError, deserializeTensor, type Params, type SerializedTensor, ShapeError, serializeTensor, tf } from '@eqprop/core';
import { EnergyNetwork } from '@eqprop/energies';

export type SavedParams = Record<string, SerializedTensor>;

/** Every parameter as plain JSON-able data (float32 as base64, with its shape): the inverse of loadParams. */
export function saveParams(params: Params): SavedParams {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, serializeTensor(v)]));
}

/**
 * Loads saved values (saveParams's output, plain JSON) into `params`, checking names, shapes and
 * dtypes first so nothing is half-written (a DataFormatError naming the parameter otherwise).
 */
export function loadParams(params: Params, saved: SavedParams): void {
  const values = deserializeParams(params, saved);
  for (const [name, v] of Object.entries(params)) {
    v.assign(values[name]);
    values[name].dispose();
  }
}

/**
 * The saved values as tensors, checked against `params` (every name present, shapes and dtypes
 * equal) before anything is allocated; nothing is assigned. The caller disposes them.
 */
export function deserializeParams(params: Params, saved: SavedParams): Record<string, tf.Tensor> {
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
  return values;
}

/** Each parameter's values as a plain array of numbers, row-major (its shape is `net.params[name].shape`). */
export function paramsToArrays(source: Params | EnergyNetwork): Record<string, number[]> {
  const params = paramsOf(source);
  return Object.fromEntries(Object.entries(params).map(([name, v]) => [name, Array.from(v.dataSync())]));
}

/**
 * Sets parameters by name from plain arrays (numbers or a Float32Array, row-major, of the
 * parameter's size): some or all of them. Everything is checked before anything is written: a
 * name the network lacks is a ConfigError naming it and the parameters there are, a wrong size a
 * ShapeError naming the parameter, its shape and both sizes, a non-finite value a ConfigError.
 */
export function setParamsFromArrays(target: Params | EnergyNetwork, values: Record<string, ArrayLike<number>>): void {
  const params = paramsOf(target);
  for (const [name, a] of Object.entries(values)) {
    if (!Object.hasOwn(params, name)) throw new ConfigError(`no parameter named "${name}": the parameters are ${Object.keys(params).join(', ')}`);
    const p = params[name];
    if (typeof a?.length !== 'number') throw new ConfigError(`values of ${name} must be an array of numbers`);
    if (a.length !== p.size) throw new ShapeError(`${name} of shape [${p.shape}] takes ${p.size} values, got ${a.length}`);
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) throw new ConfigError(`${name}[${i}] is ${a[i]}, expected a finite number`);
    }
  }
  for (const [name, a] of Object.entries(values)) {
    const p = params[name];
    const t = tf.tensor(Float32Array.from(a), p.shape, 'float32');
    p.assign(t);
    t.dispose();
  }
}

function paramsOf(x: Params | EnergyNetwork): Params {
  return x instanceof EnergyNetwork ? x.params : x;
}

/** An independent copy of the current values (e.g. to start a baseline from the same weights). */
export function cloneParams(params: Params): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tf.clone(v)]));
}
