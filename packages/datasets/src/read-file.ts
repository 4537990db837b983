import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DataFormatError } from '@eqprop/core';

function cannotRead(path: string, e: unknown): DataFormatError {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return new DataFormatError(`${path}: cannot read file (${code}), expected a readable data file`);
}

export function readFileOrThrow(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
}

export async function readFileOrThrowAsync(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
}

/** The first of `candidates` that exists, or undefined. */
export function firstExisting(candidates: string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}
