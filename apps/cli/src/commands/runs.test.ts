import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRunsDb } from '@eqprop/experiments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const TINY = ['--preset', 'scellier2017-1h', '--layers', '784,20,10', '--train-limit', '100', '--test-limit', '50', '--batch-size', '10', '--quiet'];

describe('eqprop train --db and eqprop runs, on a real embedded PostgreSQL', () => {
  let parent: string;
  let dbDir: string;
  let url: string;
  let password: string;
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, EQPROP_DB: '', EQPROP_DB_DIR: join(parent, 'no-db'), ...extra });
  const cli = (args: string[], extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 120_000, env: env(extra), cwd: parent });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const runIdOf = (stdout: string) => Number(/recording as run (\d+) in postgres:\/\/eqprop:\*\*\*@/.exec(stdout)?.[1]);
  const folderOf = (stdout: string) => /run folder: (.*)/.exec(stdout)![1];
  let first: { id: number; folder: string; stdout: string; stderr: string };

  beforeAll(() => {
    parent = mkdtempSync(join(tmpdir(), 'eqprop-cli-runs-'));
    chmodSync(parent, 0o711);
    dbDir = join(parent, 'db');
    const start = cli(['db', 'start', '--dir', dbDir]);
    expect(start.code, start.stderr).toBe(0);
    url = cli(['db', 'url', '--dir', dbDir]).stdout.trim();
    password = decodeURIComponent(new URL(url).password);
    const t = cli(['train', ...TINY, '--epochs', '2', '--out', join(parent, 'runs'), '--db', url]);
    expect(t.code, t.stderr).toBe(0);
    first = { id: runIdOf(t.stdout), folder: folderOf(t.stdout), stdout: t.stdout, stderr: t.stderr };
  }, 120_000);
  afterAll(() => {
    cli(['db', 'stop', '--dir', dbDir]);
    rmSync(parent, { recursive: true, force: true });
  });

  it('records the run: config, revision, backend, machine, 2 epochs, summary, run folder', async () => {
    expect(first.id).toBeGreaterThan(0);
    const db = await openRunsDb(url);
    try {
      const run = await db.getRun(first.id);
      expect(run).toBeDefined();
      const runDir = resolve(parent, first.folder);
      const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
      const git = spawnSync('git', ['-C', fileURLToPath(new URL('.', import.meta.url)), 'rev-parse', 'HEAD'], { encoding: 'utf8' });
      expect(run).toMatchObject({
        status: 'done',
        backend: 'wasm',
        runDir,
        epochs: 2,
        codeRevision: git.status === 0 ? git.stdout.trim() : null,
      });
      expect(run?.config).toMatchObject({ preset: 'scellier2017-1h', epochs: 2, batchSize: 10, model: { sizes: [784, 20, 10] } });
      expect(run?.machine).toMatchObject({ hostname: hostname(), cpus: expect.any(Number) });
      // the epochs equal the run folder's metrics, line for line
      const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(run?.epochRows.map((e) => e.epoch)).toEqual([1, 2]);
      expect(run?.epochRows.map((e) => e.metrics.testError)).toEqual(lines.map((l) => l.testError));
      // each epoch was recorded as it ended, not all at the end: epoch 2's row is younger by its training time
      const [r1, r2] = run!.epochRows;
      expect(r2.recorded.getTime() - r1.recorded.getTime()).toBeGreaterThanOrEqual(500 * (r2.metrics.seconds as number));
      expect(run?.summary).toMatchObject({ epochs: 2, finalTestError: summary.finalTestError, bestTestError: summary.bestTestError });
      // the password is in no record and in no output
      expect(JSON.stringify(run)).not.toContain(password);
      expect(first.stdout + first.stderr).not.toContain(password);
    } finally {
      await db.close();
    }
  });

  it('eqprop runs list and show print it', () => {
    const list = cli(['runs', 'list', '--db', url]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^id\s+created \(UTC\)\s+status\s+preset/);
    expect(list.stdout).toMatch(new RegExp(`\\n${first.id}\\s+\\S+ \\S+\\s+done\\s+scellier2017-1h\\s+wasm\\s+2\\s+\\d+\\.\\d\\d %`));
    expect(list.stdout).toContain(resolve(parent, first.folder));
    const show = cli(['runs', 'show', String(first.id)], { EQPROP_DB: url });
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^run ${first.id}: scellier2017-1h — done\\n`));
    expect(show.stdout).toMatch(/\nepoch {2}train error {2}test error {2}seconds\n +1 .*\n +2 .*\n\nsummary: final test error \d+\.\d\d %/);
    expect(show.stdout + list.stdout).not.toContain(password);
  });

  it('eqprop runs compare tabulates two runs and draws their curves', () => {
    const t = cli(['train', ...TINY, '--epochs', '1', '--seed', '2', '--out', join(parent, 'runs'), '--db', url]);
    expect(t.code, t.stderr).toBe(0);
    const second = runIdOf(t.stdout);
    const out = join(parent, 'compare');
    const c = cli(['runs', '--db', url, 'compare', String(first.id), String(second), '--out', out]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(new RegExp(`\\| #${first.id} scellier2017-1h \\| \\d+\\.\\d\\d % \\| .* \\| 2 \\|`));
    expect(c.stdout).toMatch(new RegExp(`\\| #${second} scellier2017-1h \\| \\d+\\.\\d\\d % \\| .* \\| 1 \\|`));
    for (const f of ['runs-test-error.svg', 'runs-train-error.svg']) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg).toMatch(/^<svg /);
      for (const id of [first.id, second]) expect(svg, f).toContain(`#${id} scellier2017-1h`);
    }
  });

  it('a run resumed with --db continues its own record', async () => {
    const db = await openRunsDb(url);
    try {
      const before = (await db.listRuns()).length;
      const r = cli(['train', '--resume', first.folder, '--quiet'], { EQPROP_DB: url });
      expect(r.code, r.stderr).toBe(0);
      expect(runIdOf(r.stdout)).toBe(first.id);
      expect((await db.listRuns()).length).toBe(before);
      expect(await db.getRun(first.id)).toMatchObject({ status: 'done', epochs: 2 });
    } finally {
      await db.close();
    }
  });

  it('a database that is down, or a wrong password: one line, exit 1, before any run folder', () => {
    const wrong = new URL(url);
    wrong.password = 'not-the-password-42';
    const down = new URL(url);
    down.port = '1';
    for (const [bad, expected] of [
      [wrong.toString(), /refused the password of user "eqprop"\n$/],
      [down.toString(), /refused the connection: is the server running\? \(`eqprop db start` starts the embedded one\)\n$/],
    ] as const) {
      const out = join(parent, `never-${bad === down.toString() ? 'down' : 'auth'}`);
      const r = cli(['train', ...TINY, '--epochs', '1', '--out', out], { EQPROP_DB: bad });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^eqprop: error: the runs database at postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:\d+\/eqprop /);
      expect(r.stderr).toMatch(expected);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stdout + r.stderr).not.toContain('not-the-password-42');
      expect(r.stdout + r.stderr).not.toContain(password);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('eqprop runs with no database anywhere says where to get one', () => {
    const r = cli(['runs', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^eqprop: error: no runs database: give --db URL, set EQPROP_DB, or start the embedded one with `eqprop db start` \(looked in .*no-db\)\n$/,
    );
  });
});
