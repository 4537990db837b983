#!/usr/bin/env node
import { EqpropError } from '@eqprop/core';
import { commands } from './commands/index.js';

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: eqprop <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\n\`eqprop <command> --help\` for its flags`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) throw new EqpropError('E_USAGE', `unknown command "${name}": expected one of ${Object.keys(commands).join(', ')}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  await command.run(rest);
  // a command that finished but found a failure (gpu-check) sets process.exitCode
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Expected failures are one line; anything else too, unless EQPROP_DEBUG asks for the stack.
    const err = e as Error;
    const msg = err instanceof EqpropError || err?.name?.endsWith('Error') ? err.message : String(e);
    process.stderr.write(`eqprop: error: ${msg.split('\n')[0]}\n`);
    if (process.env.EQPROP_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    process.exit(err instanceof EqpropError ? 1 : 2);
  },
);
