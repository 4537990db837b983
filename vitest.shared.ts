// Tests import sibling packages from their sources, so a test run needs no build.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));
const names = ['core', 'energies', 'solvers', 'models', 'learning', 'baselines', 'datasets', 'analysis', 'experiments'];

export const sharedConfig = defineConfig({
  resolve: {
    // exact names only: subpath exports (e.g. @eqprop/learning/parallel) resolve to the built files
    alias: names.map((n) => ({ find: new RegExp(`^@eqprop/${n}$`), replacement: pkg(n) })),
  },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
