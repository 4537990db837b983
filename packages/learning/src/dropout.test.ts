import { type Batch, type Reads, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, loadMnist, synthetic } from '@eqprop/datasets';
import { type BoundNetwork, drawDropoutMasks } from '@eqprop/energies';
import { buildModel, type ModelConfig, paramsToArrays, setParamsFromArrays } from '@eqprop/models';
import { FixedPoint, type Relaxation, type RelaxOptions, type Solver } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ContinualTrainer } from './continual-trainer.js';
import { createEstimator, disposeRelaxation } from './estimators.js';
import { type RefNet, refRandomNet, refTrueGradient } from './testing/reference-network.js';
import { Trainer, type TrainerConfig, type TrainerOptions } from './trainer.js';
import type { TrainerState } from './trainer-state.js';

// Dropout inside the energy (Laborieux's `dropout` branch): one set of masks per batch, used by
// the free phase, every nudged phase and the estimate; none at evaluation.
beforeAll(async () => {
  await setupBackend('wasm');
});

const data = synthetic({ count: 60, inputSize: 12, numClasses: 3, seed: 3 });
const test = synthetic({ count: 30, inputSize: 12, numClasses: 3, seed: 4 });
// a CE readout, so that the top layer can drop units too (its masked activity is what the readout reads)
const model = (dropout?: number[]): ModelConfig => ({
  kind: 'mlp',
  sizes: [12, 10, 8, 3],
  activation: 'ernoult-sigmoid',
  form: 'primitive',
  cost: 'ce',
  dropout,
});
const DROPOUT = [0.2, 0.5, 0.25];
const config: TrainerConfig = {
  solver: { kind: 'fixed-point', schedule: 'synchronous' },
  freeSteps: 30,
  nudgedSteps: 10,
  estimator: 'random-sign',
  beta: 0.3,
  optimizer: { kind: 'adam', lrs: [0.01] },
  persistent: true,
};
const opts = (seed: number): TrainerOptions => ({ seed, trainCount: data.count, testCount: test.count });

/** Batches from..from+n−1 of a fixed stream (epochs of 6 batches of 10). */
function train(trainer: Trainer, from: number, n: number): void {
  let i = 0;
  for (let epoch = 0; i < from + n; epoch++) {
    for (const batch of batches(data, 10, { rng: new Rng([5, epoch, 0, 1]), flatten: true }) as Generator<Batch>) {
      if (i >= from && i < from + n) trainer.trainBatch(batch);
      [batch.x, batch.y].forEach((t) => t.dispose());
      if (++i === from + n) break;
    }
  }
}

const params = (t: Trainer) => paramsToArrays(t.net);
const evaluate = (t: Trainer) => t.evaluate(batches(test, 10, { shuffle: false, flatten: true }));

/** What one relaxation saw: whether it was nudged, its network's gates (per layer) and the state it reached. */
interface Seen {
  nudged: boolean;
  gates: (number[] | null)[];
  state: number[][];
}

/** The trainer's solver, recording every relaxation it runs. */
class SpySolver implements Solver {
  readonly name = 'spy';
  readonly seen: Seen[] = [];
  constructor(readonly inner: Solver) {}
  relax(): Relaxation {
    throw new Error('the trainer relaxes through relaxReads');
  }
  *relaxReads(bound: BoundNetwork, init: tf.Tensor[], o: RelaxOptions): Reads<Relaxation> {
    const r = yield* this.inner.relaxReads(bound, init, o);
    const L = bound.net.depth;
    const gates = Array.from({ length: L + 1 }, (_, k) => {
      const g = bound.masks?.gate(k);
      return g ? Array.from(g.dataSync()) : null;
    });
    this.seen.push({ nudged: o.nudge !== undefined, gates, state: r.state.map((s) => Array.from(s.dataSync())) });
    return r;
  }
}

class SpyTrainer extends Trainer {
  declare readonly solver: SpySolver;
  constructor(...args: ConstructorParameters<typeof Trainer>) {
    super(...args);
    this.solver = new SpySolver((this as Trainer).solver);
  }
}

describe('dropout masks', () => {
  it('are drawn once per batch: the free and both nudged phases see the same ones, which gate every phase; the next batch draws others', () => {
    const net = buildModel(model(DROPOUT), new Rng(1));
    // per-example stops: settled examples leave the batch, the rest relax on with their rows of the masks
    const trainer = new SpyTrainer(net, { ...config, estimator: 'symmetric', tol: 1e-5, tolPerExample: true }, opts(2));
    train(trainer, 0, 2);
    const seen = trainer.solver.seen;
    expect(seen.map((s) => s.nudged)).toEqual([false, true, true, false, true, true]);
    const sigma0 = net.activations[0].apply(tf.scalar(0)).dataSync()[0];
    for (const [b, phases] of [seen.slice(0, 3), seen.slice(3)].entries()) {
      for (const p of phases) {
        expect(p.gates).toEqual(phases[0].gates);
        // every phase relaxed the masked network: a dropped unit sits at σ(0), a kept one moved off it
        for (const k of [1, 2]) {
          const gate = p.gates[k]!;
          expect(gate.includes(0) && gate.includes(1), `batch ${b} layer ${k}`).toBe(true);
          gate.forEach((g, i) => {
            if (g === 0) expect(p.state[k - 1][i]).toBeCloseTo(sigma0, 6);
            else expect(Math.abs(p.state[k - 1][i] - sigma0)).toBeGreaterThan(1e-6);
          });
        }
      }
    }
    for (const k of [0, 1, 2]) expect(seen[3].gates[k]).not.toEqual(seen[0].gates[k]);
    trainer.dispose();
  });

  it('with every rate 0 the run is the run without dropout, bit for bit', () => {
    const a = new Trainer(buildModel(model([0, 0, 0]), new Rng(1)), config, opts(2));
    const b = new Trainer(buildModel(model(), new Rng(1)), config, opts(2));
    train(a, 0, 5);
    train(b, 0, 5);
    expect(params(a)).toEqual(params(b));
    expect(a.rng.getState()).toEqual(b.rng.getState());
    expect(evaluate(a)).toEqual(evaluate(b));
    expect(a.net.dropout).toBeUndefined();
    // and dropout does change the run
    const c = new Trainer(buildModel(model(DROPOUT), new Rng(1)), config, opts(2));
    train(c, 0, 5);
    expect(params(c)).not.toEqual(params(b));
    [a, b, c].forEach((t) => t.dispose());
  });

  it('are off at evaluation: it relaxes the plain network and draws nothing', () => {
    const t = new Trainer(buildModel(model(DROPOUT), new Rng(1)), config, opts(2));
    train(t, 0, 3);
    const twin = new Trainer(buildModel(model(), new Rng(7)), config, opts(2));
    setParamsFromArrays(twin.net, params(t));
    const rng = t.rng.getState();
    const evalT = evaluate(t);
    expect(t.rng.getState()).toEqual(rng);
    expect(evalT).toEqual(evaluate(twin));
    const x = tf.randomUniform([4, 12], 0, 1, 'float32', 3);
    const [s, u] = [t.relaxFree(x), twin.relaxFree(x)];
    s.forEach((layer, i) => expect(Array.from(layer.dataSync())).toEqual(Array.from(u[i].dataSync())));
    tf.dispose([...s, ...u, x]);
    [t, twin].forEach((tr) => tr.dispose());
  });

  it('resume bit for bit from getState (the masks come from the trainer’s Rng)', () => {
    const [k, m] = [4, 5];
    const a = new Trainer(buildModel(model(DROPOUT), new Rng(1)), config, opts(2));
    train(a, 0, k);
    const state = a.getState();
    const copy: TrainerState = { ...JSON.parse(JSON.stringify({ ...state, particles: undefined })), particles: structuredClone(state.particles) };
    train(a, k, m);
    // another initialisation and another seed: everything comes from the state
    const b = new Trainer(buildModel(model(DROPOUT), new Rng(9)), config, opts(99));
    b.setState(copy);
    train(b, k, m);
    expect(params(b)).toEqual(params(a));
    expect(b.rng.getState()).toEqual(a.rng.getState());
    [a, b].forEach((t) => t.dispose());
  });

  it('are refused in one line where they would not reach: holomorphic EP’s complex phases, continual EP', () => {
    const net = buildModel(model(DROPOUT), new Rng(1));
    expect(() => new Trainer(net, { ...config, estimator: 'holomorphic-4' }, opts(2))).toThrow(
      /^holomorphic EP relaxes its complex phases by its own step, which applies no dropout masks/,
    );
    const cep = { ...config, estimator: 'one-sided', optimizer: { kind: 'sgd' as const, lrs: [0.01] } };
    expect(() => new ContinualTrainer(net, cep, opts(2))).toThrow(/^continual EP \(cep\) rebinds the network at every nudged step and draws no dropout masks/);
  });

  it('leave no tensor behind across batches (per-example stops included)', () => {
    const t = new Trainer(buildModel(model(DROPOUT), new Rng(1)), { ...config, tol: 1e-5, tolPerExample: true }, opts(2));
    train(t, 0, 1); // Adam's slots are made by the first step
    const before = tf.memory().numTensors;
    train(t, 1, 4);
    evaluate(t);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });
});

// ——— the EP estimate with masks against the true gradient of the masked loss (float64) ———

/** Reference dynamics of the masked energy, one example: s_k = σ((1 − p_k)·∂Φ(m ⊙ a)/∂s_k), with `m` per layer (0 or 1/(1 − p)). */
function maskedRelax(net: RefNet, keep: number[], m: number[][], x: number[], steps: number): number[][] {
  const L = net.sizes.length - 1;
  const sig = (v: number) => 1 / (1 + Math.exp(-4 * (v - 0.5))); // ernoult-sigmoid
  let s = net.sizes.slice(1).map((n) => new Array<number>(n).fill(0));
  for (let t = 0; t < steps; t++) {
    const a = [x, ...s].map((layer, k) => layer.map((v, i) => v * m[k][i]));
    s = s.map((_, idx) => {
      const k = idx + 1;
      const f = net.b[k - 1].slice();
      for (let j = 0; j < f.length; j++) {
        for (let i = 0; i < a[k - 1].length; i++) f[j] += a[k - 1][i] * net.W[k - 1][i][j];
        if (k < L) for (let i = 0; i < a[k + 1].length; i++) f[j] += net.W[k][j][i] * a[k + 1][i];
      }
      return f.map((fj, j) => sig(keep[k] * m[k][j] * fj));
    });
  }
  return s;
}

/** Mean CE of the readout of the masked top layer at the masked free equilibrium. */
function maskedLoss(net: RefNet, keep: number[], masks: number[][][], xs: number[][], ys: number[][], steps: number): number {
  const { W, b } = net.readout!;
  let total = 0;
  xs.forEach((x, e) => {
    const s = maskedRelax(net, keep, masks[e], x, steps);
    const L = s.length;
    const out = s[L - 1].map((v, i) => v * masks[e][L][i]);
    const z = b.map((bc, c) => out.reduce((acc, v, i) => acc + v * W[i][c], bc));
    const top = Math.max(...z);
    const logSum = top + Math.log(z.reduce((acc, v) => acc + Math.exp(v - top), 0));
    total -= z.reduce((acc, v, c) => acc + ys[e][c] * (v - logSum), 0);
  });
  return total / xs.length;
}

/** Central differences (float64) of maskedLoss in every parameter, named as the model names them. */
function maskedTrueGradient(net: RefNet, keep: number[], masks: number[][][], xs: number[][], ys: number[][], steps: number): Record<string, number[]> {
  const h = 1e-6;
  const probe = (arr: number[], i: number) => {
    const v0 = arr[i];
    arr[i] = v0 + h;
    const up = maskedLoss(net, keep, masks, xs, ys, steps);
    arr[i] = v0 - h;
    const down = maskedLoss(net, keep, masks, xs, ys, steps);
    arr[i] = v0;
    return (up - down) / (2 * h);
  };
  const out: Record<string, number[]> = {};
  net.W.forEach((w, k) => (out[`W${k}_${k + 1}`] = w.flatMap((row) => row.map((_, j) => probe(row, j)))));
  net.b.forEach((b, k) => (out[`b${k + 1}`] = b.map((_, j) => probe(b, j))));
  out.Wout = net.readout!.W.flatMap((row) => row.map((_, c) => probe(row, c)));
  out.bout = net.readout!.b.map((_, c) => probe(net.readout!.b, c));
  return out;
}

const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
const relDiff = (a: number[], b: number[]) => norm(a.map((v, i) => v - b[i])) / norm(b);

describe('EP with dropout estimates the gradient of the masked network', () => {
  it('the symmetric estimate at small β equals the float64 true gradient of the masked loss, masks held fixed', () => {
    const sizes = [6, 8, 5];
    const classes = 3;
    const rates = [0.25, 0.5, 0.4];
    const keep = rates.map((p) => 1 - p);
    const ref = refRandomNet(sizes, 5, 0.8, classes);
    const net = buildModel(
      { kind: 'mlp', sizes: [...sizes, classes], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'ce', dropout: rates },
      new Rng(0),
    );
    setParamsFromArrays(net, {
      ...Object.fromEntries(ref.W.map((w, k) => [`W${k}_${k + 1}`, w.flat()])),
      ...Object.fromEntries(ref.b.map((b, k) => [`b${k + 1}`, b])),
      Wout: ref.readout!.W.flat(),
      bout: ref.readout!.b,
    });
    const n = 3;
    const rng = new Rng(9);
    const xs = Array.from({ length: n }, () => Array.from(rng.uniformArray(sizes[0], 0, 1)));
    const ys = Array.from({ length: n }, (_, e) => Array.from({ length: classes }, (_, c) => (c === e % classes ? 1 : 0)));

    const before = tf.memory().numTensors;
    const masks = drawDropoutMasks(net, n, new Rng(11))!;
    // per example and layer, m = gate/(1 − p): the masks the reference dynamics are given
    const perExample = Array.from({ length: n }, (_, e) =>
      [0, 1, 2].map((k) => {
        const width = [sizes[0], ...sizes.slice(1)][k];
        return Array.from(
          masks
            .gate(k)!
            .dataSync()
            .slice(e * width, (e + 1) * width),
        ).map((g) => g / keep[k]);
      }),
    );
    const x = tf.tensor2d(xs);
    const y = tf.tensor2d(ys);
    const bound = net.bind(x, masks);
    const init = net.zeroState(n);
    const relax = { maxSteps: 600, tol: 1e-7 };
    const est = createEstimator('symmetric', { beta: 0.01 }).estimate({ bound, y, solver: new FixedPoint('synchronous'), init, free: relax, nudged: relax });
    expect(est.free.converged && est.nudged.every((r) => r.converged)).toBe(true);
    const grads = Object.fromEntries(Object.entries(est.grads).map(([k, g]) => [k, Array.from(g.dataSync())]));
    [...Object.values(est.grads), ...init, x, y].forEach((g) => g.dispose());
    disposeRelaxation(est.free);
    est.nudged.forEach(disposeRelaxation);
    bound.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const truth = maskedTrueGradient(ref, keep, perExample, xs, ys, 400);
    const names = Object.keys(net.params);
    expect(Object.keys(grads).sort()).toEqual(names.slice().sort());
    // measured: per parameter ≤ 3.8e-4 (W0_1, b1). The gradient of the same network without masks is O(1)
    // off, so is an estimate whose dynamics, update or readout gradient miss the masks
    for (const p of names) expect(relDiff(grads[p], truth[p]), p).toBeLessThan(2e-3);
    const plain = refTrueGradient(ref, { kind: 'primitive-fp', gain: 4, centre: 0.5, schedule: 'synchronous' }, xs, ys, 400);
    expect(relDiff(plain.W[0].flat(), truth.W0_1)).toBeGreaterThan(0.3);
  });
});

describe('dropout on real data', () => {
  it('a small MLP with dropout trains on 2000 MNIST examples: the test error falls', async () => {
    const trainSet = await loadMnist({ split: 'train', limit: 2000 });
    const testSet = await loadMnist({ split: 'test', limit: 300 });
    const net = buildModel(
      { kind: 'mlp', sizes: [784, 64, 10], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'ce', init: 'fan-in', dropout: [0.2, 0.3] },
      new Rng(1),
    );
    const t = new Trainer(
      net,
      { ...config, freeSteps: 20, nudgedSteps: 8, estimator: 'symmetric', beta: 0.5, optimizer: { kind: 'adam', lrs: [0.002] }, persistent: false },
      { seed: 2 },
    );
    const error = () => t.evaluate(batches(testSet, 100, { shuffle: false, flatten: true })).error;
    const start = error();
    for (const batch of batches(trainSet, 20, { rng: new Rng(3), flatten: true })) {
      t.trainBatch(batch);
      tf.dispose([batch.x, batch.y]);
    }
    const end = error();
    expect(start).toBeGreaterThan(0.7);
    expect(end).toBeLessThan(0.35);
    t.dispose();
  }, 120_000);
});
