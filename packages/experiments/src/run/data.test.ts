import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, Rng } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { mergeConfig, validateConfig } from './config.js';
import { loadData } from './data.js';
import { getPreset } from './presets/index.js';
import { RunDir } from './run-dir.js';
import { createSession, trainRun } from './training-run.js';

const rng = new Rng(7);
const dir = mkdtempSync(join(tmpdir(), 'eqprop-data-'));

/** CIFAR-100 binary records (coarse label, fine label, 3072 pixel bytes) with random pixels. */
function cifar100(labels: [number, number][]): Uint8Array {
  const out = new Uint8Array(labels.length * 3074).map(() => rng.int(256));
  labels.forEach(([coarse, fine], n) => out.set([coarse, fine], n * 3074));
  return out;
}

/** An IDX file of unsigned bytes. */
function idx(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x800 + dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const cifarDir = join(dir, 'cifar100');
mkdirSync(cifarDir);
const trainLabels = Array.from({ length: 60 }, (_, i): [number, number] => [i % 20, (i * 7) % 100]);
writeFileSync(join(cifarDir, 'train.bin'), cifar100(trainLabels));
writeFileSync(join(cifarDir, 'test.bin'), cifar100(Array.from({ length: 30 }, (_, i): [number, number] => [(i * 3) % 20, (i * 11) % 100])));
const kmnistDir = join(dir, 'kmnist');
mkdirSync(kmnistDir);
for (const [prefix, n] of [
  ['train', 12],
  ['t10k', 6],
] as const) {
  writeFileSync(
    join(kmnistDir, `${prefix}-images-idx3-ubyte`),
    idx(
      [n, 28, 28],
      new Uint8Array(n * 784).map(() => rng.int(256)),
    ),
  );
  writeFileSync(
    join(kmnistDir, `${prefix}-labels-idx1-ubyte`),
    idx(
      [n],
      Array.from({ length: n }, (_, i) => i % 10),
    ),
  );
}

const base = (data: object, sizes: number[]) =>
  validateConfig(
    mergeConfig(getPreset('ernoult2019-p1h'), {
      model: { sizes },
      epochs: 1,
      workers: 1,
      trainer: { freeSteps: 5, nudgedSteps: 2 },
      data,
      batchSize: 10,
      evalBatchSize: 15,
    }),
  );

describe('run config: new datasets', () => {
  it('accepts kmnist and cifar100 (fine or coarse labels); labels elsewhere or unknown is one clear line', () => {
    expect(base({ dataset: 'kmnist' }, [784, 8, 10]).data.dataset).toBe('kmnist');
    expect(base({ dataset: 'svhn' }, [3072, 8, 10]).data.dataset).toBe('svhn');
    expect(base({ dataset: 'cifar100', labels: 'coarse' }, [3072, 8, 20]).data.labels).toBe('coarse');
    expect(() => base({ dataset: 'cifar10', labels: 'coarse' }, [3072, 8, 10])).toThrow(
      new ConfigError('config field "data.labels": only cifar100 has fine and coarse labels (dataset is cifar10), got "coarse"'),
    );
    expect(() => base({ dataset: 'cifar100', labels: 'medium' }, [3072, 8, 100])).toThrow(/^config field "data\.labels": .*fine.*coarse/);
    expect(() => base({ dataset: 'svhn2' }, [3072, 8, 10])).toThrow(
      /config field "data\.dataset": expected one of mnist, fashion-mnist, kmnist, cifar10, cifar100, svhn/,
    );
  });

  it('loadData reads Kuzushiji-MNIST and CIFAR-100 with the labels the config names', async () => {
    const k = await loadData(base({ dataset: 'kmnist', dataDir: kmnistDir }, [784, 8, 10]).data);
    expect(k.train).toMatchObject({ name: 'kmnist-train', count: 12, numClasses: 10 });
    expect(k.test.count).toBe(6);
    const fine = await loadData(base({ dataset: 'cifar100', dataDir: cifarDir, validation: 10 }, [3072, 8, 100]).data);
    expect(fine.train).toMatchObject({ count: 50, numClasses: 100 });
    expect(Array.from(fine.train.labels.subarray(0, 3))).toEqual([0, 7, 14]);
    expect(fine.valid?.count).toBe(10);
    const coarse = await loadData(base({ dataset: 'cifar100', labels: 'coarse', dataDir: cifarDir }, [3072, 8, 20]).data);
    expect(coarse.test).toMatchObject({ name: 'cifar100-coarse-test', numClasses: 20 });
    expect(Array.from(coarse.train.labels.subarray(0, 3))).toEqual([0, 1, 2]);
    // SVHN: no fixture here (the datasets package tests its reader); a missing file names itself
    await expect(loadData(base({ dataset: 'svhn', dataDir: join(dir, 'none') }, [3072, 8, 10]).data)).rejects.toThrow(/train_32x32\.mat: file not found/);
  });
});

describe('top-5 error in the epoch metrics', () => {
  it('CIFAR-100 coarse (20 classes): testTop5Error in the metrics and on the epoch line, ≤ the test error', async () => {
    const config = base({ dataset: 'cifar100', labels: 'coarse', dataDir: cifarDir, validation: 15 }, [3072, 8, 20]);
    const session = await createSession(config);
    const runDir = new RunDir(mkdtempSync(join(dir, 'run-')));
    runDir.writeJson('config.json', config);
    const lines: string[] = [];
    const [m] = await trainRun(session, { runDir, resume: false, quiet: true, log: (l) => lines.push(l) });
    expect(m.testTop5Error).toBeGreaterThanOrEqual(0);
    expect(m.testTop5Error!).toBeLessThanOrEqual(m.testError);
    expect(m.validTop5Error!).toBeLessThanOrEqual(m.validError!);
    const epochLine = lines.find((l) => l.startsWith('epoch'))!;
    expect(epochLine).toContain(`(top-5 ${(100 * m.testTop5Error!).toFixed(2)}%)`);
    const metrics = JSON.parse(readFileSync(join(runDir.path, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]);
    expect(metrics.testTop5Error).toBe(m.testTop5Error);
  });

  it('Kuzushiji-MNIST (10 classes): top-5 in the metrics, not on the epoch line', async () => {
    const config = base({ dataset: 'kmnist', dataDir: kmnistDir }, [784, 8, 10]);
    const session = await createSession(config);
    const runDir = new RunDir(mkdtempSync(join(dir, 'run-')));
    runDir.writeJson('config.json', config);
    const lines: string[] = [];
    const [m] = await trainRun(session, { runDir, resume: false, quiet: true, log: (l) => lines.push(l) });
    expect(m.testTop5Error!).toBeLessThanOrEqual(m.testError);
    expect(lines.find((l) => l.startsWith('epoch'))).not.toContain('top-5');
  });
});
