import { existsSync, readFileSync } from 'node:fs';
import { type Batch, runSync, setupBackend, tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DigitSet, makeBatch, parseDigitSet, ranges } from '../data.js';
import { presetById } from '../presets.js';
import { Race, type RacePoint } from './race.js';

// The race on real MNIST digits (the demo's assets, written by `pnpm --filter demo assets`).
const asset = (name: string): DigitSet => {
  const file = new URL(`../../public/generated/${name}`, import.meta.url);
  if (!existsSync(file)) throw new Error(`${file.pathname} not found: run \`pnpm --filter demo assets\` first`);
  const bytes = readFileSync(file);
  return parseDigitSet(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), name);
};

describe('Race', () => {
  let train: DigitSet;
  let test: DigitSet;
  const testBatches = function* (): Generator<Batch> {
    for (const idx of ranges(500, 250)) yield makeBatch(test, idx);
  };

  beforeAll(async () => {
    await setupBackend('wasm');
    [train, test] = [asset('mnist-train.bin'), asset('mnist-test.bin')];
  });

  it('starts EP and its backprop twin from one network state, and both learn on the same batches', () => {
    const race = new Race(presetById('small'), 1);
    const x = makeBatch(
      test,
      Int32Array.from({ length: 100 }, (_, i) => i),
    );
    const gap = runSync(race.startGapReads(x.x));
    x.x.dispose();
    x.y.dispose();
    const curves: { ep: RacePoint[]; bp: RacePoint[] } = { ep: [], bp: [] };
    const evaluate = (examples: number) => {
      const p = runSync(race.evaluateReads(testBatches, examples));
      curves.ep.push(p.ep);
      curves.bp.push(p.bp);
    };
    evaluate(0);
    const before = tf.memory().numTensors;
    for (let b = 0; b < 40; b++) {
      const batch = makeBatch(
        train,
        Int32Array.from({ length: 50 }, (_, i) => b * 50 + i),
      );
      runSync(race.stepReads(batch));
      batch.x.dispose();
      batch.y.dispose();
    }
    const leaked = tf.memory().numTensors - before;
    evaluate(2000);
    race.dispose();
    console.log(
      `race test: start gap ${gap.toExponential(2)}; EP ${curves.ep.map((p) => p.error).join(' → ')}, backprop ${curves.bp.map((p) => p.error).join(' → ')}`,
    );
    expect(gap).toBeLessThan(1e-6);
    expect(curves.ep[0].error).toBe(curves.bp[0].error);
    expect(Math.abs(curves.ep[0].loss - curves.bp[0].loss)).toBeLessThan(1e-6);
    for (const c of [curves.ep, curves.bp]) expect(c[1].error).toBeLessThan(c[0].error - 0.4);
    expect(leaked).toBe(0);
  });
});
