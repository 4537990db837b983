import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataFormatError, EqpropError } from '@eqprop/core';

/** Writes a file so that a crash leaves either the old or the new content, never a mix. */
export function atomicWrite(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  try {
    // the rename itself survives a power cut once the folder is synced (not possible on every OS)
    const dir = openSync(dirname(path), 'r');
    fsyncSync(dir);
    closeSync(dir);
  } catch {
    /* best effort */
  }
}

/** The folder of one training run: config, metrics (JSON lines), checkpoint, summary. */
export class RunDir {
  constructor(readonly path: string) {}

  static create(root: string, name: string): RunDir {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
    const path = join(root, `${name}-${stamp}`);
    mkdirSync(path, { recursive: true });
    return new RunDir(path);
  }

  static open(path: string): RunDir {
    if (!existsSync(join(path, 'config.json'))) {
      throw new EqpropError('E_RUN', `"${path}" is not a run folder: it has no config.json`);
    }
    return new RunDir(path);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeJson(name: string, value: unknown): void {
    atomicWrite(this.file(name), `${JSON.stringify(value, null, 2)}\n`);
  }

  readJson<T>(name: string): T {
    const path = this.file(name);
    if (!existsSync(path)) throw new EqpropError('E_RUN', `missing ${path}`);
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      throw new DataFormatError(`${path} is not valid JSON`);
    }
  }

  has(name: string): boolean {
    return existsSync(this.file(name));
  }

  appendMetrics(record: Record<string, unknown>): void {
    appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(record)}\n`);
  }
}
