// A test suite that cannot run on this machine (no browser, no GPU adapter) says so here instead of
// vanishing: it writes one record into its package's .test-skips/ folder (a turbo output of the
// `test` task, so a cached run restores it), and scripts/test.mjs lists every record at the end.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SKIPS_DIR = '.test-skips';

/**
 * Records that `suite` was skipped, `reason` being what this machine lacks and `command` how to
 * run it where it can run. Call it from the test file, at collection time, in the package folder.
 * `optional`: a suite for something no machine of ours can install (tfjs-node): listed, but it
 * does not fail CI.
 */
export function recordSkip({ suite, reason, command, optional = false }) {
  const dir = join(process.cwd(), SKIPS_DIR);
  mkdirSync(dir, { recursive: true });
  const slug = suite.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  writeFileSync(join(dir, `${slug}.json`), `${JSON.stringify({ suite, reason, command, optional })}\n`);
}

/** The package folders of the workspace (those that can hold a .test-skips folder). */
export function packageDirs(root) {
  return ['packages', 'apps', '.']
    .flatMap((group) => (group === '.' ? ['examples'] : existsSync(join(root, group)) ? readdirSync(join(root, group)).map((d) => join(group, d)) : []))
    .map((d) => join(root, d))
    .filter((d) => existsSync(join(d, 'package.json')));
}

export function clearSkips(root) {
  for (const dir of packageDirs(root)) rmSync(join(dir, SKIPS_DIR), { recursive: true, force: true });
}

export function readSkips(root) {
  return packageDirs(root).flatMap((dir) => {
    const skips = join(dir, SKIPS_DIR);
    if (!existsSync(skips)) return [];
    return readdirSync(skips)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(skips, f), 'utf8')));
  });
}
