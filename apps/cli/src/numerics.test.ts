// A run that diverges (an absurd learning rate) stops with one line naming the epoch, the batch
// and the culprit, and leaves the last good checkpoint: finite and loadable. Drives the built CLI.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSession, loadCheckpoint, RunDir, runDirReader, validateConfig } from '@eqprop/experiments';
import { beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const ARGS = ['train', '--preset', 'scellier2017-1h', '--layers', '784,30,10', '--train-limit', '200', '--test-limit', '100', '--epochs', '1'];

describe('NaN or Inf during training', () => {
  beforeAll(() => expect(existsSync(cliPath)).toBe(true));

  for (const workers of ['1', '2']) {
    it(`stops with epoch, batch and culprit and keeps the last good checkpoint (workers ${workers})`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'eqprop-nan-'));
      const r = spawnSync(
        process.execPath,
        [cliPath, ...ARGS, '--lr', '1e38', '--workers', workers, '--checkpoint-every-batches', '1', '--quiet', '--out', out],
        {
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      const m = r.stderr.match(/^eqprop: error: epoch 1, batch (\d+)\/10: (.*) \(last good checkpoint kept in (.*)\)$/m);
      expect(m, r.stderr).not.toBeNull();
      expect(m![2]).toMatch(/parameter \w+|state of layer \d+|term \w+|gradient for parameter \w+/);
      const failed = Number(m![1]);
      expect(failed).toBeGreaterThan(1);

      const dir = join(out, readdirSync(out)[0]);
      expect(m![3]).toBe(dir);
      const config = validateConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
      const session = await createSession(config);
      const ck = loadCheckpoint(runDirReader(new RunDir(dir)), { trainer: session.trainer, epochs: 1, batchesPerEpoch: 10 });
      expect(ck?.batch).toBe(failed - 1); // written after the last batch that went well
      expect(() => session.trainer.checkParams()).not.toThrow();
    });
  }
});
