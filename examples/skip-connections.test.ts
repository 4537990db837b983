import { Rng, setupBackend } from '@eqprop/core';
import { buildModel } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainSkipMlp } from './skip-connections.js';

describe('example: an architecture with skip couplings, from public APIs', () => {
  beforeAll(() => setupBackend('wasm'));

  it('registers itself and builds through buildModel', () => {
    const net = buildModel({ kind: 'skip-mlp', sizes: [6, 5, 4, 3] }, new Rng(0));
    expect(Object.keys(net.params).sort()).toEqual(['S0_2', 'S1_3', 'W0_1', 'W1_2', 'W2_3', 'b1', 'b2', 'b3']);
    expect(() => buildModel({ kind: 'skip-mlp', sizes: [6, 3] }, new Rng(0))).toThrow(/at least one hidden layer/);
  });

  it('trains: a few epochs of EP on synthetic data cut the test error', async () => {
    const r = await trainSkipMlp({ epochs: 3 });
    expect(r.batches).toBe(60);
    expect(r.before).toBeGreaterThan(0.5);
    expect(r.after).toBeLessThan(0.2);
  });
});
