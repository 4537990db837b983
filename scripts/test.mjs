#!/usr/bin/env node
// `pnpm test`: every package's tests through turbo, then the list of suites this machine could not
// run (and how to run them). Under CI (CI=1) or EQPROP_REQUIRE_ALL_SUITES=1 a skipped suite fails
// the run: CI has what every suite needs, so a skip there is a bug, not a missing browser.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearSkips, readSkips } from './test-skips.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
clearSkips(root);
const turbo = spawnSync('pnpm', ['exec', 'turbo', 'run', 'test', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
if (turbo.status !== 0) process.exit(turbo.status ?? 1);

const skips = readSkips(root);
const strict = process.env.CI === '1' || process.env.CI === 'true' || process.env.EQPROP_REQUIRE_ALL_SUITES === '1';
if (skips.length === 0) {
  console.log('\nevery test suite ran');
  process.exit(0);
}
console.log(`\n${skips.length} test suite${skips.length > 1 ? 's' : ''} could not run on this machine:`);
for (const s of skips) console.log(`  - ${s.suite}${s.optional ? ' (optional)' : ''}: ${s.reason}\n    run it with: ${s.command}`);
if (strict && skips.some((s) => !s.optional)) {
  console.error('\nCI must run every suite: failing because of the skips above');
  process.exit(1);
}
