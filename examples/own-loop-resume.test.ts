import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupBackend } from '@eqprop/core';
import { paramsToArrays } from '@eqprop/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadState, makeTrainer, resumeFromCheckpoint, saveState, trainBatches } from './own-loop-resume.js';

const dir = mkdtempSync(join(tmpdir(), 'eqprop-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('example: a checkpoint in your own loop, from getState', () => {
  beforeAll(() => setupBackend('wasm'));

  it('resumes bit for bit: k batches, a checkpoint on disk, m more, equal to a fresh trainer resumed from it', async () => {
    const r = await resumeFromCheckpoint(dir, 15, 15);
    expect(Object.keys(r.resumed)).toEqual(['W0_1', 'b1', 'W1_2', 'b2']);
    expect(r.resumed).toEqual(r.straight); // every value of every parameter, exactly
    expect(r.particles[1]).toEqual(r.particles[0]);
  });

  it('the comparison has teeth: a resume that leaves out the RNG (random-sign draws) or the particles is not equal', async () => {
    const first = makeTrainer(1);
    trainBatches(first, 0, 15);
    saveState(dir, first.getState());
    trainBatches(first, 15, 30);
    const straight = paramsToArrays(first.net);
    const state = loadState(dir, 2);
    for (const partial of [
      { ...state, rng: makeTrainer(2).rng.getState() },
      { ...state, particles: state.particles!.map((a) => new Float32Array(a.length)) },
    ]) {
      const t = makeTrainer(2);
      t.setState(partial);
      trainBatches(t, 15, 30);
      expect(paramsToArrays(t.net)).not.toEqual(straight);
      t.dispose();
    }
    first.dispose();
  });
});
