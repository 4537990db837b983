import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TINY = ['--layers', '784,20,10', '--train-limit', '100', '--test-limit', '50', '--batch-size', '10', '--quiet'];

/** Percent as the pages print it. */
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

describe('eqprop results: pages from run folders made by a real eqprop train', () => {
  let parent: string;
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 120_000, cwd: parent });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  /** The run folder of a preset and algorithm, found by its config. */
  const runFolder = (preset: string, algorithm = 'ep') =>
    readdirSync(join(parent, 'runs'))
      .map((d) => join(parent, 'runs', d))
      .find((d) => {
        const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        return c.preset === preset && (c.algorithm ?? 'ep') === algorithm;
      })!;
  const metrics = (dir: string) =>
    readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; testError: number; trainError: number; seconds: number });

  beforeAll(() => {
    parent = mkdtempSync(join(tmpdir(), 'eqprop-cli-results-'));
    for (const args of [
      ['--preset', 'scellier2017-1h', '--epochs', '3'],
      ['--preset', 'ernoult2019-p1h', '--epochs', '2', '--free-steps', '5', '--nudged-steps', '2'],
      ['--preset', 'ernoult2019-p1h', '--epochs', '1', '--free-steps', '5', '--nudged-steps', '2', '--algorithm', 'bptt'],
    ]) {
      const t = cli(['train', ...args, ...TINY, '--out', join(parent, 'runs')]);
      expect(t.code, t.stderr).toBe(0);
    }
    const r = cli(['results', '--runs', join(parent, 'runs'), '--out', join(parent, 'pages')]);
    expect(r.code, r.stderr).toBe(0);
  }, 180_000);
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it("gives final and best test error (with the epoch), epochs and time per epoch equal to the run's metrics", () => {
    const dir = runFolder('scellier2017-1h');
    const m = metrics(dir);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    const best = Math.min(...m.map((e) => e.testError));
    expect(m).toHaveLength(3);
    // the best epoch as summary.json names it, and it holds the lowest error of metrics.jsonl
    expect(m.find((e) => e.epoch === summary.bestEpoch)?.testError).toBe(best);
    const meanSeconds = m.reduce((s, e) => s + e.seconds, 0) / m.length;
    const page = readFileSync(join(parent, 'pages', 'scellier2017-1h.md'), 'utf8');
    expect(page).toContain(`| final test error | ${pct(m[2].testError)} |`);
    expect(page).toContain(`| best test error (epoch) | ${pct(best)} (${summary.bestEpoch}) |`);
    expect(page).toContain('| epochs | 3 |');
    expect(page).toContain(`| time per epoch (training) | ${meanSeconds.toFixed(2)} s |`);
    for (const e of m) expect(page).toContain(`| ${e.epoch} | ${pct(e.trainError)} | ${pct(e.testError)} | ${e.seconds.toFixed(1)} |`);
    expect(page).toContain('layers `[784,20,10]`');
    expect(page).toContain(`\`${dir}\``);
  });

  it('writes the learning curves as SVG and PNG and links them', () => {
    for (const f of ['scellier2017-1h-test-error', 'scellier2017-1h-train-error']) {
      const svg = readFileSync(join(parent, 'pages', `${f}.svg`), 'utf8');
      expect(svg).toMatch(/^<svg/);
      expect(
        readFileSync(join(parent, 'pages', `${f}.png`))
          .subarray(1, 4)
          .toString(),
      ).toBe('PNG');
      expect(readFileSync(join(parent, 'pages', 'scellier2017-1h.md'), 'utf8')).toContain(`](${f}.svg)`);
    }
  });

  it('writes one page per preset and algorithm, and an index with one line per page', () => {
    const index = readFileSync(join(parent, 'pages', 'README.md'), 'utf8');
    const rows = index.split('\n').filter((l) => l.startsWith('| ['));
    expect(rows.map((r) => /\[`([^`]+)`\]/.exec(r)?.[1])).toEqual(['ernoult2019-p1h', 'ernoult2019-p1h-bptt', 'scellier2017-1h']);
    for (const key of ['ernoult2019-p1h', 'ernoult2019-p1h-bptt']) expect(existsSync(join(parent, 'pages', `${key}.md`))).toBe(true);
    const m = metrics(runFolder('ernoult2019-p1h', 'ep'));
    expect(rows[0]).toContain(`| ${pct(m[1].testError)} (${pct(Math.min(...m.map((e) => e.testError)))}, `);
    expect(rows[1]).toContain(`| ${pct(metrics(runFolder('ernoult2019-p1h', 'bptt'))[0].testError)} (`);
  });

  it("sets the paper's figure beside the run where the paper gives one, and leaves it empty where not", async () => {
    const { paperFigure } = await import('../paper-errors.js');
    expect(paperFigure('laborieux2021-cifar10')?.testError).toBe(0.117);
    const page = readFileSync(join(parent, 'pages', 'scellier2017-1h.md'), 'utf8');
    expect(page).toMatch(/\| final test error \| [\d.]+ % \| — \|/);
    expect(page).toContain('https://www.frontiersin.org/articles/10.3389/fncom.2017.00024/full');
  });

  it('refuses a folder with no run folder in one line', () => {
    const r = cli(['results', '--runs', join(parent, 'pages')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('holds no run folder');
    expect(cli(['results']).stderr).toContain('expects --runs DIR');
  });
});
