import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd: mkdtempSync(join(tmpdir(), 'eqprop-cwd-')), timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('eqprop gdu', () => {
  beforeAll(() => {
    expect(existsSync(cliPath)).toBe(true);
  });

  it('prints the per-layer table and writes the plots for an MNIST batch', () => {
    const out = mkdtempSync(join(tmpdir(), 'eqprop-gdu-'));
    const r = cli(['gdu', '--preset', 'ernoult2019-p1h', '--batch-size', '4', '--beta', '0.001', '--layers', '1,b2', '--plot-count', '3', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/T 40, K 15, β 0.001/);
    for (const group of ['s1', 'W0_1', 'b1', 's2', 'W1_2', 'b2']) expect(r.stdout).toMatch(new RegExp(`^\\d\\s+${group}\\s`, 'm'));
    expect(readdirSync(out).sort()).toEqual([
      'gdu-W0_1.png',
      'gdu-W0_1.svg',
      'gdu-b1.png',
      'gdu-b1.svg',
      'gdu-b2.png',
      'gdu-b2.svg',
      'gdu-s1.png',
      'gdu-s1.svg',
      'gdu.json',
      'gdu.txt',
    ]);
    const summary = JSON.parse(readFileSync(join(out, 'gdu.json'), 'utf8'));
    expect(summary.freeResidual).toBeLessThan(1e-4);
    for (const s of summary.stats) expect(s.rmse, s.name).toBeLessThan(0.05);
    expect(readFileSync(join(out, 'gdu-s1.svg'), 'utf8').match(/<path /g)).toHaveLength(6);
  });

  const bad: [string, string[], RegExp][] = [
    ['K > T', ['--nudged-steps', '50'], /K = 50 .*T = 40/],
    ['β = 0', ['--beta', '0'], /β must be a non-zero finite number .*got 0/],
    ['an unknown layer', ['--layers', '1,7'], /unknown layer "7".*1…2/],
    ['an unknown group', ['--layers', 'W5_6'], /unknown layer "W5_6".*s1, W0_1, b1, s2, W1_2, b2/],
    ['a bad number', ['--batch-size', 'many'], /--batch-size expects a number, got "many"/],
  ];
  for (const [name, args, pattern] of bad) {
    it(`rejects ${name} in one line`, () => {
      const r = cli(['gdu', ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^eqprop: error: /);
      expect(r.stderr).toMatch(pattern);
    });
  }

  it('train names a bad --algorithm', () => {
    const r = cli(['train', '--preset', 'ernoult2019-p1h', '--algorithm', 'sgd']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/config field "algorithm" \(--algorithm\): expected one of ep, bptt, cep, got "sgd"/);
  });
});
