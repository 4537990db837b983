/**
 * The doc test: runs every code block of docs/guide and docs/tutorial, page by page, so a page
 * whose code stops working fails `pnpm test`. A page's ```sh blocks run first (bash -e, `eqprop`
 * is the built CLI, apps/cli/dist/cli.js), then its ```ts blocks as one module (written under
 * docs/.tmp/doctest so that @eqprop/* imports resolve as in the workspace). Each figure a page
 * links (`figures/NAME.png`) must be written by its code as NAME.svg; the test renders the PNG
 * beside it. Figures go to a scratch folder, or to docs/tutorial/figures under `pnpm figures`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { svgToPng } from '@eqprop/experiments';
import { describe, expect, it } from 'vitest';
import { pageBlocks } from './doc-blocks.js';

const docs = dirname(fileURLToPath(import.meta.url));
const cli = resolve(docs, '../apps/cli/dist/cli.js');
const scratch = join(docs, '.tmp/doctest');
process.env.EQPROP_FIGURES = resolve(docs, process.env.EQPROP_FIGURES ?? join(scratch, 'figures'));
const figures = process.env.EQPROP_FIGURES;

const pagesOf = (dir: string) =>
  readdirSync(join(docs, dir))
    .filter((f) => f.endsWith('.md') && f !== 'README.md') // README: the index, no code
    .sort()
    .map((f) => `${dir}/${f}`);

function runShell(page: string, script: string, cwd: string): void {
  const prelude = `set -euo pipefail\neqprop() { node ${JSON.stringify(cli)} "$@"; }\n`;
  const r = spawnSync('bash', ['-c', prelude + script], { cwd, encoding: 'utf8', env: { ...process.env, EQPROP_DEBUG: '1' } });
  if (r.status !== 0)
    throw new Error(`${page}: a sh block failed (exit ${r.status}):\n${script}\n--- output\n${(r.stdout ?? '').slice(-3000)}${(r.stderr ?? '').slice(-3000)}`);
}

for (const dir of ['guide', 'tutorial']) {
  describe(`docs/${dir}`, () => {
    for (const page of pagesOf(dir)) {
      it(page, async () => {
        const blocks = pageBlocks(readFileSync(join(docs, page), 'utf8'));
        expect(blocks.module.length + blocks.shell.length, `${page} has no code block`).toBeGreaterThan(0);
        const name = page.replace(/[/.]/g, '_');
        const work = join(scratch, name);
        rmSync(work, { recursive: true, force: true });
        mkdirSync(work, { recursive: true });
        mkdirSync(figures, { recursive: true });
        const started = Date.now();
        for (const script of blocks.shell) runShell(page, script, work);
        if (blocks.module) {
          const file = join(scratch, `${name}.ts`);
          writeFileSync(file, `// generated from docs/${page} by doc.test.ts: edit the page, not this file\n${blocks.module}`);
          await import(pathToFileURL(file).href);
        }
        for (const fig of blocks.figures) {
          const svg = join(figures, `${fig}.svg`);
          // written by this run of the page, not left from an earlier one
          expect(
            statSync(svg, { throwIfNoEntry: false })?.mtimeMs ?? 0,
            `${page} links figures/${fig}.png but its code did not write ${fig}.svg`,
          ).toBeGreaterThanOrEqual(started - 1000);
          const png = svgToPng(readFileSync(svg, 'utf8'));
          writeFileSync(join(figures, `${fig}.png`), png);
          expect(png.length).toBeGreaterThan(1000);
        }
      }, 600_000);
    }
  });
}

// Readers paste this code into their own files: it must compile, not only run (vitest strips types).
describe('docs code', () => {
  it('every page type-checks (tsc, the workspace settings)', () => {
    const dir = join(scratch, 'typecheck');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const page of [...pagesOf('guide'), ...pagesOf('tutorial')]) {
      writeFileSync(join(dir, `${page.replace(/[/.]/g, '_')}.ts`), pageBlocks(readFileSync(join(docs, page), 'utf8')).module);
    }
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: '../../../../tsconfig.base.json', compilerOptions: { noEmit: true }, include: ['*.ts'] }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    expect(r.stdout + r.stderr, 'type errors in the pages’ code').toBe('');
    expect(r.status).toBe(0);
  }, 300_000);
});
