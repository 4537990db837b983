export { tf, setupBackend, defaultBackend, isBackendName, BACKENDS } from './backend.js';
export type { BackendName } from './backend.js';
export { EqpropError, ConfigError, DataFormatError, NumericalError, ShapeError, check } from './errors.js';
export { Rng } from './rng.js';
export type { RngState } from './rng.js';
export type { State, Params, Grads, Batch } from './types.js';
export { disposeAll, assertFinite, serializeTensor, deserializeTensor, addGrads, compareGrads, bytesToBase64, base64ToBytes, takeRows } from './tensors.js';
export type { SerializedTensor } from './tensors.js';
