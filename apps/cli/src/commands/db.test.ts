import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

describe('eqprop db: the embedded server from the command line', () => {
  let parent: string;
  let dir: string;
  const env = () => ({ ...process.env, EQPROP_DB: '', EQPROP_DB_DIR: join(parent, 'default-db') });
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60_000, env: env() });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    parent = mkdtempSync(join(tmpdir(), 'eqprop-cli-db-'));
    // as root the server runs as the postgres user, who must pass through the folder
    chmodSync(parent, 0o711);
    dir = join(parent, 'db');
  });
  afterAll(() => {
    cli(['db', 'stop', '--dir', dir]);
    rmSync(parent, { recursive: true, force: true });
  });

  it('start, url, status, stop and start again: same URL, the password only in `db url`', () => {
    const start = cli(['db', 'start', '--dir', dir]);
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/^embedded PostgreSQL created and started in .*: postgres:\/\/eqprop:\*\*\*@127\.0\.0\.1:\d+\/eqprop\n/);
    const url = cli(['db', 'url', '--dir', dir]).stdout.trim();
    const password = new URL(url).password;
    expect(password.length).toBeGreaterThan(20);
    expect(start.stdout).not.toContain(password);
    expect(cli(['db', 'status', '--dir', dir]).stdout).toMatch(/^running: /);
    expect(cli(['db', 'start', '--dir', dir]).stdout).toMatch(/^embedded PostgreSQL already running/);
    expect(cli(['db', 'stop', '--dir', dir]).stdout).toBe(`stopped the server in ${dir}\n`);
    expect(cli(['db', 'status', '--dir', dir]).stdout).toMatch(/^stopped: /);
    expect(cli(['db', 'stop', '--dir', dir]).stdout).toBe(`no server was running in ${dir}\n`);
    const again = cli(['db', 'start', '--dir', dir]);
    expect(again.stdout).toMatch(/^embedded PostgreSQL started in /);
    expect(cli(['db', 'url', '--dir', dir]).stdout.trim()).toBe(url);
  });

  it('bad input is one line and exit 1', () => {
    const empty = join(parent, 'nothing-here');
    const cases: [string[], RegExp][] = [
      [['db', 'url', '--dir', empty], /^eqprop: error: no embedded server in .*nothing-here: `eqprop db start --dir .*` creates one\n$/],
      [['db', 'start', '--dir', empty, '--port', 'abc'], /^eqprop: error: --port expects a TCP port \(1 to 65535\), got "abc"\n$/],
      [['db', 'frob'], /^eqprop: error: eqprop db expects start, stop, url or status, got "frob"\n$/],
      [['db'], /^eqprop: error: eqprop db expects start, stop, url or status, got nothing\n$/],
    ];
    for (const [args, expected] of cases) {
      const r = cli(args);
      expect(r.stderr, args.join(' ')).toMatch(expected);
      expect(r.code).toBe(1);
    }
  });
});
