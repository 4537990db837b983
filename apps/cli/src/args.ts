import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '@eqprop/core';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A negative number or a list that starts with one: "-1", "-0.5", "-.5", "-1e-3", "-1,2". */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * node:util parseArgs with its errors turned into one-line ConfigErrors. A value that starts with
 * a dash (`--lr -1`) is one parseArgs refuses as ambiguous; no option of ours is a dash and a
 * digit, so a negative number after an option that takes a value is that option's value, as in
 * `--lr=-1`, and the option's own check then says what it accepts.
 */
export function parseFlags(argv: string[], options: Options): Record<string, string | boolean | undefined> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') && !argv[i].includes('=') ? argv[i].slice(2) : undefined;
    const takesValue = name !== undefined && Object.hasOwn(options, name) && options[name].type === 'string';
    if (takesValue && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1])) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  try {
    const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
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
