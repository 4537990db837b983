import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedServer, startEmbedded, stopEmbedded } from './embedded.js';

/**
 * A scratch embedded server for a test file: a fresh folder under the system temp folder (opened
 * so that the `postgres` user can pass through it when the tests run as root), a free port.
 */
export async function scratchServer(name: string): Promise<{ server: EmbeddedServer; dir: string; cleanup: () => Promise<void> }> {
  const parent = mkdtempSync(join(tmpdir(), `eqprop-${name}-`));
  chmodSync(parent, 0o711);
  const dir = join(parent, 'db');
  const server = await startEmbedded({ dir });
  return {
    server,
    dir,
    cleanup: async () => {
      await stopEmbedded(dir).catch(() => {});
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

/** What a thrown error says, and that it is one line. */
export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}
