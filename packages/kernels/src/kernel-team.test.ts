import { ConfigError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { KernelTeam } from './kernel-team.js';
import { Program } from './program.js';

describe('KernelTeam', () => {
  it('refuses a thread count that is not an integer from 1 to 64, in one line', async () => {
    for (const bad of [0, -1, 1.5, 65, Number.NaN])
      await expect(KernelTeam.start({ threads: bad })).rejects.toThrow(
        new ConfigError(`kernel threads must be an integer from 1 to 64, got ${JSON.stringify(bad)}`),
      );
  });

  it('runs each thread its program on one memory, and cannot run once disposed', async () => {
    const team = await KernelTeam.start({ threads: 2 });
    expect(team.threads).toBe(2);
    const K = team.K;
    const a = K.put([1, 2, 3, 4, 5, 6]);
    const out = K.alloc(6);
    // each thread scales its half: the worker's writes are seen here
    team.run([new Program().scaledDiff(out, a, 0, 3, 10), new Program().scaledDiff(out + 12, a + 12, 0, 3, 100)]);
    expect(Array.from(K.view(out, 6))).toEqual([10, 20, 30, 400, 500, 600]);
    team.dispose();
    expect(() => team.run([new Program()])).toThrow(/used after dispose/);
    const one = await KernelTeam.start({ threads: 1 });
    expect(one.threads).toBe(1);
    expect(() => one.run([new Program(), new Program()])).toThrow(/2 programs for 1 threads/);
  });
});
