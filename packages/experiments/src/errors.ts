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

/** Driver and server codes of a connection that is down or going down (a restart), not of a bad query. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/**
 * Whether an error of the database (ours, translated, or a raw one from pg or pg-boss) means the
 * server cannot be reached right now: a worker waits and tries again instead of failing its job.
 */
export function isTransientDbError(e: unknown): boolean {
  if (e instanceof DbConnectionError) return true;
  const err = e as { code?: string; message?: string } | undefined;
  if (err?.code && TRANSIENT_CODES.has(err.code)) return true;
  return /Connection terminated|connection timeout|terminating connection|the database system is (starting|shutting)|ECONNREFUSED|closed the connection/i.test(
    String(err?.message ?? ''),
  );
}
