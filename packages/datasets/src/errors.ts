import { EqpropError } from '@eqprop/core';

/** A download that failed: unreachable host, HTTP status other than 200, too many redirects, cut off. */
export class DownloadError extends EqpropError {
  constructor(message: string) {
    super('E_DOWNLOAD', message);
    this.name = 'DownloadError';
  }
}
