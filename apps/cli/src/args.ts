import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '@eqprop/core';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with its errors turned into one-line ConfigErrors. */
export function parseFlags(argv: string[], options: Options): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n')[0]);
  }
}

export function numberFlag(name: string, value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n)) {
    throw new ConfigError(`--${name} expects a number, got "${value}"`);
  }
  return n;
}

export function listFlag(name: string, value: string | boolean | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`--${name} expects a comma-separated list of numbers, got "${value}"`);
  return value.split(',').map((v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${name} expects a comma-separated list of numbers, got "${value}"`);
    return n;
  });
}
