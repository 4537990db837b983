/**
 * Every error eqprop raises on purpose. `code` is stable and machine-readable; the message names
 * the bad value and what was expected, so a CLI can print it on one line without a stack trace.
 */
export class EqpropError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'EqpropError';
    this.code = code;
  }
}

/** A configuration value that is out of range or of the wrong kind. */
export class ConfigError extends EqpropError {
  constructor(message: string) {
    super('E_CONFIG', message);
    this.name = 'ConfigError';
  }
}

/** A data file that is truncated, corrupt or not what its header claims. */
export class DataFormatError extends EqpropError {
  constructor(message: string) {
    super('E_DATA', message);
    this.name = 'DataFormatError';
  }
}

/** NaN or Inf appeared in a state, an energy or a parameter. */
export class NumericalError extends EqpropError {
  constructor(message: string) {
    super('E_NUMERIC', message);
    this.name = 'NumericalError';
  }
}

/** Shapes that cannot work together (layer sizes, kernels, batches). */
export class ShapeError extends EqpropError {
  constructor(message: string) {
    super('E_SHAPE', message);
    this.name = 'ShapeError';
  }
}

/** Throws a ConfigError unless `ok`. */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new ConfigError(message);
}
