import { EqpropError } from '@eqprop/core';

/** The embedded PostgreSQL server could not be set up, started or stopped. */
export class EmbeddedServerError extends EqpropError {
  constructor(message: string) {
    super('E_DB_SERVER', message);
    this.name = 'EmbeddedServerError';
  }
}

/** The runs database URL is malformed, or the database cannot be reached. */
export class DbConnectionError extends EqpropError {
  constructor(message: string) {
    super('E_DB_CONNECT', message);
    this.name = 'DbConnectionError';
  }
}

/** The database refused the user or password of the URL. */
export class DbAuthError extends EqpropError {
  constructor(message: string) {
    super('E_DB_AUTH', message);
    this.name = 'DbAuthError';
  }
}

/** The database holds a schema this eqprop cannot use (written by a newer eqprop). */
export class DbSchemaError extends EqpropError {
  constructor(message: string) {
    super('E_DB_SCHEMA', message);
    this.name = 'DbSchemaError';
  }
}

/** A query of the runs database failed (the message is redacted). */
export class DbQueryError extends EqpropError {
  constructor(message: string) {
    super('E_DB_QUERY', message);
    this.name = 'DbQueryError';
  }
}
