import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findAll, parseXml, svgTexts } from '@eqprop/analysis';
import { describe, expect, it } from 'vitest';

// `compare` and `sweep` fork worker processes of the built CLI, so these tests drive dist/cli.js.
const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `eqprop-${name}-`));
const svg = (file: string) => parseXml(readFileSync(file, 'utf8'));
/** A small net on a few hundred MNIST examples: every point takes well under a second. */
const TINY = ['--preset', 'laborieux2021-mlp', '--layers', '784,8,10', '--train-limit', '300', '--test-limit', '100'];

describe('eqprop sweep: points in worker processes, one file each', () => {
  it('a sweep killed midway (SIGKILL) and run again computes only the missing points', async () => {
    const out = tmp('kill');
    const values = ['1e-4', '3e-4', '1e-3', '3e-3', '1e-2', '3e-2'];
    const args = ['sweep', 'lr', ...TINY, '--values', values.join(','), '--workers', '1', '--out', out];
    const points = join(out, 'points');
    const done = () => (existsSync(points) ? readdirSync(points).filter((f) => f.endsWith('.json')) : []);
    // its own process group, so that the kill takes the sweep and its worker at once (as a Ctrl-C would)
    const child = spawn(process.execPath, [cliPath, ...args], { detached: true, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    const t0 = Date.now();
    while (done().length < 2 && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 20));
    process.kill(-child.pid!, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const before = done();
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(before.length).toBeLessThan(values.length);
    const stamps = Object.fromEntries(before.map((f) => [f, statSync(join(points, f)).mtimeMs]));

    const r = cli(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${before.length} of ${values.length} points already done`);
    expect(r.stdout).toContain(`computing ${values.length - before.length} points`);
    const computed = [...r.stdout.matchAll(/point (lr-[\d.e-]+) done/g)].map((m) => `${m[1]}.json`);
    expect(computed.sort()).toEqual(
      values
        .map((v) => `lr-${Number(v)}.json`)
        .filter((f) => !before.includes(f))
        .sort(),
    );
    for (const f of before) expect(statSync(join(points, f)).mtimeMs, f).toBe(stamps[f]);
    expect(done()).toHaveLength(values.length);

    // a third run has nothing left to do
    const again = cli(args);
    expect(again.stdout).toContain(`${values.length} of ${values.length} points already done`);
    expect(again.stdout).not.toContain('computing');
    const final = svg(join(out, 'sweep-lr-final.svg'));
    expect(svgTexts(final)).toEqual(
      expect.arrayContaining(['laborieux2021-mlp: final error vs learning rate', 'learning rate', 'final error (%)', 'test error']),
    );
    expect(findAll(final, 'circle').length).toBe(2 * values.length + 2);
    const traj = svgTexts(svg(join(out, 'sweep-lr-test-error.svg')));
    for (const v of values) expect(traj).toContain(`learning rate ${Number(v)}`);
  });

  it('sweep beta writes the error and cosine plots, a table with the best β per estimator, and JSON', () => {
    const out = tmp('beta');
    const r = cli([
      'sweep',
      'beta',
      ...TINY,
      '--batch-size',
      '10',
      '--batches',
      '2',
      '--betas',
      '1e-3,1e-2,0.1',
      '--sweep-free-steps',
      '150',
      '--sweep-nudged-steps',
      '80',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/symmetric: the error is smallest at β = /);
    const md = readFileSync(join(out, 'beta-sweep.md'), 'utf8');
    expect(md).toMatch(/\| one-sided \| \d\.\d\de-\d/);
    const json = JSON.parse(readFileSync(join(out, 'beta-sweep.json'), 'utf8'));
    expect(json.summary.estimators.map((e: { estimator: string }) => e.estimator)).toEqual(['one-sided', 'symmetric', 'random-sign']);
    expect(json.points).toHaveLength(3);
    const err = svg(join(out, 'beta-sweep-error.svg'));
    expect(svgTexts(err)).toEqual(
      expect.arrayContaining([
        'β (nudging strength)',
        'relative error ‖ĝ − ∇L‖ / ‖∇L‖',
        'one-sided (mean ± std)',
        'symmetric (mean ± std)',
        'random-sign (mean ± std)',
      ]),
    );
    expect(findAll(err, 'circle').length).toBe(3 * 3 + 3);
    expect(svgTexts(svg(join(out, 'beta-sweep-cosine.svg')))).toContain('cos(ĝ, ∇L)');
  });
});

describe('eqprop compare', () => {
  it('trains EP and the backprop twin from the same weights and writes curves and a table', () => {
    const out = tmp('compare');
    const r = cli([
      'compare',
      '--preset',
      'scellier2017-1h',
      '--layers',
      '784,8,10',
      '--with',
      'bp',
      '--epochs',
      '2',
      '--train-limit',
      '100',
      '--test-limit',
      '100',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(out, 'compare.md'), 'utf8');
    expect(md).toContain('| algorithm | final test error | best test error |');
    expect(md).toMatch(/\| EP \| \d+\.\d\d % /);
    expect(md).toMatch(/\| backprop \(feedforward twin\) \| \d+\.\d\d % /);
    const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    expect(json.learners).toEqual(['ep', 'bp']);
    expect(json.curves[0].test.map((p: { epoch: number }) => p.epoch)).toEqual([0, 1, 2]);
    for (const name of ['compare-test-error', 'compare-train-error']) {
      const doc = svg(join(out, `${name}.svg`));
      expect(svgTexts(doc)).toEqual(expect.arrayContaining(['epoch', 'EP', 'backprop (feedforward twin)']));
      expect(findAll(doc, 'path')).toHaveLength(2);
    }
  });

  it.each([
    ['an unknown baseline', ['compare', '--with', 'bp,adam'], /unknown baseline "adam"/],
    ['an unknown sweep', ['sweep', 'momentum'], /eqprop sweep needs one of beta, batch-size, lr, status, collect first, got "momentum"/],
    ['a bad grid value', ['sweep', 'batch-size', '--values', '10,2.5'], /--values must be positive integers, got 2.5/],
    ['a bad β', ['sweep', 'beta', '--betas', '0.1,0'], /--betas must all be > 0, got 0/],
  ])('names %s in one line', (_, args, pattern) => {
    const r = cli(args);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  });
});
