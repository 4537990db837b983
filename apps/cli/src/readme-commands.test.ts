// Every command line of the root README (its code blocks and its Commands table) is run by a test
// or by CI: each maps to the file that runs it, and that file must name the command's subcommand
// and every flag the README gives it. Commands no other test runs are run here, cheaply.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const HERE = 'apps/cli/src/readme-commands.test.ts';

/** README command → the file (from the repository root) that runs it. */
const RUN_BY: Record<string, string> = {
  'npm i -g pnpm@12.4.2': '.ci/run',
  'pnpm install': '.ci/run',
  'pnpm test': '.ci/run',
  'pnpm build': '.ci/run',
  'pnpm typecheck': '.ci/run',
  'pnpm eqprop train': 'apps/cli/src/cli.test.ts',
  'pnpm eqprop train [--preset NAME] [flags]': 'apps/cli/src/cli.test.ts',
  'pnpm eqprop train --config FILE': HERE,
  'pnpm eqprop train --resume runs/<dir>': 'apps/cli/src/resume.test.ts',
  'pnpm eqprop train --validation N …': HERE,
  'pnpm eqprop eval --run runs/<dir> [--workers N]': 'apps/cli/src/cli.test.ts',
  'pnpm eqprop presets': 'apps/cli/src/cli.test.ts',
  'pnpm eqprop results --runs DIR': 'apps/cli/src/commands/results.test.ts',
  'pnpm eqprop train --preset ernoult2019-p1h --algorithm bptt': 'apps/cli/src/commands/results.test.ts',
  'pnpm eqprop gdu --preset ernoult2019-p1h': 'apps/cli/src/commands/gdu.test.ts',
  'pnpm eqprop compare --preset NAME --with bp,bptt,rbp,chl': 'apps/cli/src/experiments.test.ts',
  'pnpm eqprop db start': 'apps/cli/src/commands/db.test.ts',
  'pnpm eqprop train … --db URL': 'apps/cli/src/commands/runs.test.ts',
  'pnpm eqprop runs list|show|compare': 'apps/cli/src/commands/runs.test.ts',
  'pnpm eqprop sweep beta|batch-size|lr --preset NAME': 'apps/cli/src/experiments.test.ts',
  'pnpm bench': HERE,
  'pnpm eqprop bench --only floor/laborieux2021-mlp/kernels,/kernels --out bench.json': HERE,
  'pnpm eqprop db start --dir /srv/eqprop-db': 'apps/cli/src/commands/db.test.ts',
  'pnpm eqprop db url --dir /srv/eqprop-db': 'apps/cli/src/commands/db.test.ts',
  'pnpm eqprop sweep beta --preset ernoult2019-p1h': 'apps/cli/src/commands/sweep-queue.test.ts',
  'pnpm eqprop sweep status --id ID': 'apps/cli/src/commands/sweep-queue.test.ts',
  'pnpm eqprop train --preset laborieux2021-mlp --seeds 1,2,3 --wait': 'apps/cli/src/commands/worker.test.ts',
  // the pool of 2 worker processes that lives through a database restart
  'pnpm eqprop worker --workers 2 --dir /srv/eqprop-worker': 'apps/cli/src/commands/sweep-queue.test.ts',
  'pnpm eqprop runs list': 'apps/cli/src/commands/runs.test.ts',
  'pnpm eqprop runs compare 1 2 3': 'apps/cli/src/commands/runs.test.ts',
};

/** README commands that no test and no CI step runs, and why (reported, not hidden). */
const NOT_RUN: Record<string, string> = {
  'pnpm turbo run build --filter=demo...': "the demo's e2e suite builds the demo and serves dist/ itself (e2e/harness.ts)",
  'pnpm --filter demo preview': "the demo's e2e suite serves dist/ with its own server, not `vite preview`",
};

/** The command lines of the README: each line of its code blocks and each command of its Commands table. */
function readmeCommands(readme: string): string[] {
  const found: string[] = [];
  const command = /(?:npm i |pnpm )[^&"#)]*/g;
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1].split('\n')) for (const m of line.matchAll(command)) found.push(m[0].trim());
  }
  const table = readme.split('## Commands')[1]?.split('\n## ')[0] ?? '';
  for (const row of table.split('\n').filter((l) => l.startsWith('| `'))) {
    const first = row.split(/(?<!\\)\|/)[1];
    for (const m of first.matchAll(/`([^`]+)`/g)) if (/^(pnpm|eqprop) /.test(m[1])) found.push(m[1].replace(/\\\|/g, '|').trim());
  }
  return [...new Set(found)];
}

/**
 * What the file that runs a command must name: an eqprop command's subcommand (and sub-subcommands,
 * `beta|batch-size|lr`) and flags, quoted as the tests pass them; any other command, itself.
 */
function mentions(cmd: string): string[] {
  const words = cmd.split(/\s+/);
  if (words[1] !== 'eqprop') return [cmd];
  const [sub, next] = words.slice(2);
  const needed = [`'${sub}'`];
  if (next && /^[a-z][a-z|-]*$/.test(next)) needed.push(...next.split('|').map((w) => `'${w}'`));
  for (const w of words) if (/^--[a-z-]+$/.test(w)) needed.push(`'${w}'`);
  return needed;
}

describe('every command in the README is run by a test or by CI', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const commands = readmeCommands(readme);

  it('finds the commands of the code blocks and of the Commands table', () => {
    expect(commands).toContain('pnpm test');
    expect(commands).toContain('pnpm eqprop gdu --preset ernoult2019-p1h');
    expect(commands).toContain('pnpm eqprop db url --dir /srv/eqprop-db');
    expect(commands.length).toBeGreaterThan(20);
  });

  it.each(commands)('%s', (cmd) => {
    if (cmd in NOT_RUN) return;
    const file = RUN_BY[cmd];
    expect(file, `README command "${cmd}" has no entry in RUN_BY (the test or CI step that runs it) nor in NOT_RUN`).toBeDefined();
    expect(existsSync(join(root, file)), `${file} does not exist`).toBe(true);
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of mentions(cmd)) expect(text.includes(m), `${file} is said to run "${cmd}" but never mentions ${m}`).toBe(true);
  });

  it('lists no command that left the README', () => {
    expect([...Object.keys(RUN_BY), ...Object.keys(NOT_RUN)].filter((c) => !commands.includes(c))).toEqual([]);
  });
});

describe('README commands no other test runs, run small', () => {
  let dir: string;
  const TINY = ['--train-limit', '100', '--test-limit', '50', '--quiet'];
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 120_000, cwd: dir });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const onlyRun = (out: string) => join(dir, out, readdirSync(join(dir, out))[0]);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eqprop-readme-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('eqprop train --config FILE: the file merged over its preset', () => {
    const config = { preset: 'scellier2017-1h', epochs: 1, batchSize: 10, model: { sizes: [784, 20, 10] }, data: { trainLimit: 100, testLimit: 50 } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const r = cli(['train', '--config', 'config.json', '--quiet', '--out', 'config-runs']);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(readFileSync(join(onlyRun('config-runs'), 'config.json'), 'utf8'));
    expect(written).toMatchObject({ preset: 'scellier2017-1h', epochs: 1, batchSize: 10, model: { sizes: [784, 20, 10] } });
    // the rest comes from the preset
    expect(written.trainer).toMatchObject({ estimator: 'random-sign', beta: 0.5 });
  });

  it('eqprop train --validation N: the epoch of lowest validation error and its parameters', () => {
    const r = cli(['train', '--layers', '784,20,10', '--batch-size', '10', '--epochs', '2', '--validation', '20', ...TINY, '--out', 'valid-runs']);
    expect(r.code, r.stderr).toBe(0);
    const run = onlyRun('valid-runs');
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
    const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.validError).every((v) => typeof v === 'number')).toBe(true);
    expect(summary.validationError).toBe(Math.min(...metrics.map((m) => m.validError)));
    expect(existsSync(join(run, 'best-params.json'))).toBe(true);
  });

  it('eqprop bench --only floor/…/kernels (the Speed table): tfjs and the fused path on 1 and 2 threads in one run', () => {
    const r = cli(['bench', '--only', 'floor/laborieux2021-mlp/kernels', '--out', 'kernels.json']);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'kernels.json'), 'utf8')).results as { name: string; value: number }[];
    for (const path of ['tfjs', 'fused-1-thread', 'fused-2-threads']) {
      expect(results.find((x) => x.name === `floor/laborieux2021-mlp/kernels-${path}/ms-per-batch`)?.value).toBeGreaterThan(0);
    }
  }, 120_000);

  it('pnpm bench (eqprop bench): one case, JSON written', () => {
    const r = cli(['bench', '--only', 'relax/mlp-784-500-500-10-gd/b20', '--quick', '--out', 'bench.json']);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')).results as { name: string; value: number }[];
    expect(results.find((x) => x.name.endsWith('/steps-per-s'))?.value).toBeGreaterThan(0);
  }, 120_000);
});
