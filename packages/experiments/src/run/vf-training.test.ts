import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, Rng, setupBackend, tf } from '@eqprop/core';
import { synthetic } from '@eqprop/datasets';
import { VfConvCoupling, VfDenseCoupling } from '@eqprop/energies';
import { Trainer } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeConfig, type RunConfig, validateConfig } from './config.js';
import { getPreset } from './presets/index.js';
import { RunDir } from './run-dir.js';
import { createSession, type EpochMetrics, evaluate, type Session, trainRun } from './training-run.js';

/** Trains a session for its epochs in a fresh run folder; the epoch lines it logs, its metrics and its metrics.jsonl lines. */
async function run(session: Session) {
  const runDir = new RunDir(mkdtempSync(join(tmpdir(), 'eqprop-vf-')));
  runDir.writeJson('config.json', session.config);
  const lines: string[] = [];
  const history = await trainRun(session, { runDir, resume: false, quiet: true, log: (l) => lines.push(l) });
  const jsonl = readFileSync(runDir.file('metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EpochMetrics);
  return { history, lines, jsonl };
}

const snapshot = (t: tf.Tensor) => t.dataSync().slice();

beforeAll(async () => {
  await setupBackend('wasm');
});

describe('a vector-field MLP on real MNIST (laborieux2021-vf-mnist, shrunk)', () => {
  // the preset (784-512-10 VF MLP, one-sided β 0.1, Adam, T1 30 / T2 10) on 1000 bundled examples,
  // with a 128-unit hidden layer and a rate of 2e-3 so that two short epochs show it learning
  const config = (sameUpdate: boolean): RunConfig =>
    validateConfig(
      mergeConfig(getPreset('laborieux2021-vf-mnist'), {
        model: { sizes: [784, 128, 10], sameUpdate },
        trainer: { optimizer: { lrs: [2e-3] } },
        data: { trainLimit: 1000, testLimit: 300 },
        evalBatchSize: 300,
        epochs: 2,
      }),
    );

  it('trains: the test error falls, and the W–B angle is logged every epoch (metrics, metrics.jsonl, the log)', async () => {
    const session = await createSession(config(false));
    expect(session.net.hasEnergy).toBe(false);
    const before = (await evaluate(session, session.test)).error;
    const tensors = tf.memory().numTensors;
    const { history, lines, jsonl } = await run(session);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(before).toBeGreaterThan(0.7);
    expect(history[1].testError).toBeLessThan(0.3);
    expect(history.map((m) => Object.keys(m.angles ?? {}))).toEqual([['W1_2'], ['W1_2']]);
    expect(jsonl.map((m) => m.angles)).toEqual(history.map((m) => m.angles));
    // B starts independent of W (≈ 90°) and moves with training
    const [a1, a2] = history.map((m) => m.angles!.W1_2);
    expect(a1).toBeGreaterThan(45);
    expect(a1).toBeLessThan(95);
    expect(a2).not.toBe(a1);
    expect(lines.filter((l) => /W–B angles W1_2 \d+\.\d°/.test(l))).toHaveLength(2);
  });

  it('sameUpdate: B moves exactly as W does (same Adam updates), so W − B stays where it started', async () => {
    const session = await createSession(config(true));
    const vf = session.net.terms.find((t): t is VfDenseCoupling => t instanceof VfDenseCoupling)!;
    const gap0 = tf.tidy(() => snapshot(tf.sub(vf.forward, vf.backward)));
    const w0 = snapshot(vf.forward);
    const { history } = await run(session);
    const gap1 = tf.tidy(() => snapshot(tf.sub(vf.forward, vf.backward)));
    const w1 = snapshot(vf.forward);
    let moved = 0;
    let drift = 0;
    for (let i = 0; i < w0.length; i++) {
      moved = Math.max(moved, Math.abs(w1[i] - w0[i]));
      drift = Math.max(drift, Math.abs(gap1[i] - gap0[i]));
    }
    expect(moved).toBeGreaterThan(1e-2);
    expect(drift).toBeLessThan(1e-5);
    expect(history[1].angles!.W1_2).toBeLessThan(history[0].angles!.W1_2 + 1e-3);
  });
});

describe('a tiny vector-field convnet on the synthetic CIFAR stand-in', () => {
  it('trains (error falls) with VF conv and VF dense couplings, the angles of both logged per epoch', async () => {
    // laborieux2021-vf-cifar10's dynamics (half-clip, 3×3 convs with padding 1 and 2×2 max-pools,
    // symmetric β 1, CE readout) on 8×8×3 images: conv 4, conv 8, dense 12, 4 classes. Adam at
    // 0.01 instead of the preset's momentum SGD: at this width it takes the tiny net off its plateau
    // within the four epochs (the symmetric convnet behaves the same).
    const preset = getPreset('laborieux2021-vf-cifar10');
    const config = validateConfig({
      ...preset,
      model: { ...preset.model, inputShape: [8, 8, 3], channels: [4, 8], paddings: [1], dense: [12, 4] },
      trainer: { ...preset.trainer, freeSteps: 20, nudgedSteps: 6, optimizer: { kind: 'adam', lrs: [0.01] } },
      data: { dataset: 'cifar10', flatten: false },
      batchSize: 16,
      evalBatchSize: 64,
      epochs: 4,
    });
    const stand = (count: number, seed: number) => ({ ...synthetic({ count, inputSize: 8 * 8 * 3, numClasses: 4, seed }), exampleShape: [8, 8, 3] });
    // one seed for both sets: the same class prototypes, fresh noise for the test examples
    const all = stand(320, 4);
    const cut = (from: number, to: number, name: string) => ({
      ...all,
      name,
      count: to - from,
      images: all.images.slice(from * 192, to * 192),
      labels: all.labels.slice(from, to),
    });
    const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
    expect(net.terms.filter((t) => t instanceof VfConvCoupling || t instanceof VfDenseCoupling).map((t) => t.name)).toEqual(['K1_2', 'W2_3']);
    const session: Session = {
      config,
      net,
      trainer: new Trainer(net, config.trainer, { seed: 2, trainCount: 256 }),
      train: cut(0, 256, 'train'),
      test: cut(256, 320, 'test'),
    };
    const before = (await evaluate(session, session.test)).error;
    const { history, jsonl } = await run(session);
    expect(before).toBeGreaterThan(0.5);
    expect(history.at(-1)!.testError).toBeLessThan(0.45);
    expect(jsonl.map((m) => Object.keys(m.angles!))).toEqual(history.map(() => ['K1_2', 'W2_3']));
  });
});

describe('config: model.sameUpdate', () => {
  it('applies to the vector-field models only, named in one line', () => {
    const mlp = mergeConfig(getPreset('laborieux2021-mlp'), { model: { sameUpdate: true } });
    expect(() => validateConfig(mlp)).toThrow(ConfigError);
    expect(() => validateConfig(mlp)).toThrow(
      /^config field "model.sameUpdate": applies to the vector-field models \(vf-mlp, vf-conv\), not kind "mlp", got true$/,
    );
    expect(validateConfig(getPreset('laborieux2021-vf-cifar10-same-update')).model.sameUpdate).toBe(true);
    expect(() => validateConfig(mergeConfig(getPreset('laborieux2021-vf-mnist'), { model: { sameUpdate: 'yes' } }))).toThrow(/model.sameUpdate/);
  });
});
