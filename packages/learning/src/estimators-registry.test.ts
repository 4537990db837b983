import { ConfigError, type Reads, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, synthetic } from '@eqprop/datasets';
import { EnergyNetwork } from '@eqprop/energies';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint, GradientDescent, type Relaxation } from '@eqprop/solvers';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BaseEstimator,
  costParamGrads,
  createEstimator,
  disposeRelaxation,
  type Estimate,
  type EstimateRequest,
  type EstimatorDraw,
  estimatorNames,
  nudgeReads,
  registerEstimator,
} from './estimators.js';
import { Trainer, type TrainerConfig } from './trainer.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const mlp = (activation: string, form: 'primitive' | 'hopfield', cost: 'mse' | 'ce' = 'mse'): ModelConfig => ({
  kind: 'mlp',
  sizes: [16, 12, 4],
  activation,
  form,
  cost,
  init: 'fan-in',
});
const fixedPoint: TrainerConfig = {
  solver: { kind: 'fixed-point', schedule: 'alternating' },
  freeSteps: 20,
  nudgedSteps: 10,
  estimator: 'symmetric',
  beta: 0.5,
  optimizer: { kind: 'adam', lrs: [0.01, 0.005] },
  persistent: false,
};
const data = synthetic({ count: 240, inputSize: 16, numClasses: 4, seed: 3 });
const train = { ...data, images: data.images.subarray(0, 160 * 16), labels: data.labels.subarray(0, 160), count: 160 };
const test = { ...data, images: data.images.subarray(160 * 16), labels: data.labels.subarray(160), count: 80 };

/** Test error before and after `epochs` epochs of training. */
function trainError(model: ModelConfig, config: TrainerConfig, epochs: number): { before: number; after: number; trainer: Trainer } {
  const trainer = new Trainer(buildModel(model, new Rng(1)), config, { seed: 2, trainCount: train.count });
  const evaluate = () => trainer.evaluate(batches(test, 40, { shuffle: false, flatten: true })).error;
  const before = evaluate();
  for (let e = 0; e < epochs; e++) {
    for (const batch of batches(train, 20, { rng: new Rng([7, e, 0, 1]), flatten: true })) {
      trainer.trainBatch(batch);
      tf.dispose([batch.x, batch.y]);
    }
  }
  return { before, after: evaluate(), trainer };
}

/**
 * A user's estimator, registered from outside the package: Richardson extrapolation of the
 * one-sided estimate, 2·ĝ(β/2) − ĝ(β) (bias O(β²)). Its draw is the signed β, flipped each batch.
 */
class RichardsonEstimator extends BaseEstimator {
  draws = 0;
  constructor(beta: number) {
    super('richardson', beta);
  }
  override draw(): EstimatorDraw {
    this.draws++;
    return this.draws % 2 ? this.beta : -this.beta;
  }
  *estimateFromReads(req: EstimateRequest, free: Relaxation, draw: EstimatorDraw = this.draw()): Reads<Estimate> {
    const beta = this.betaOf(draw);
    const nudged = [yield* nudgeReads(req, free, beta / 2)];
    nudged.push(yield* nudgeReads(req, free, beta));
    const half = req.bound.paramGradsDiff(nudged[0].state, free.state, 4 / beta);
    const full = req.bound.paramGradsDiff(nudged[1].state, free.state, 1 / beta);
    const grads = Object.fromEntries(Object.keys(half).map((k) => [k, tf.sub(half[k], full[k])]));
    tf.dispose([...Object.values(half), ...Object.values(full)]);
    Object.assign(grads, costParamGrads(req.bound, free.state, req.y));
    return { grads, free, nudged, beta };
  }
}

describe('the estimator registry', () => {
  it('an unknown name is one line listing every registered one', () => {
    expect(() => createEstimator('two-sided', { beta: 0.1 })).toThrow(ConfigError);
    expect(() => createEstimator('two-sided', { beta: 0.1 })).toThrow(
      /^unknown estimator "two-sided": expected one of one-sided, symmetric, random-sign, five-phase, holomorphic, holomorphic-N(, [a-z-]+)*$/,
    );
    expect(() => new Trainer(buildModel(mlp('sigmoid', 'primitive'), new Rng(1)), { ...fixedPoint, estimator: 'fivephase' }, { seed: 1 })).toThrow(
      /^unknown estimator "fivephase": expected one of /,
    );
  });

  it('holomorphic-N names its points; bad N and conflicting points are refused', () => {
    expect(createEstimator('holomorphic-4', { beta: 0.1 }).name).toBe('holomorphic-4');
    expect(createEstimator('holomorphic', { beta: 0.1, points: 3 }).name).toBe('holomorphic-3');
    expect(createEstimator('holomorphic', { beta: 0.1 }).name).toBe('holomorphic-4');
    expect(() => createEstimator('holomorphic-1', { beta: 0.1 })).toThrow(/^holomorphic EP needs points N ≥ 2 \(an integer\), got 1$/);
    expect(() => createEstimator('holomorphic-4', { beta: 0.1, points: 5 })).toThrow(/has 4 points, but points: 5 was given/);
    expect(() => createEstimator('five-phase', { beta: -1 })).toThrow(/^β must be a positive number, got -1$/);
    expect(() => createEstimator('symmetric-2', { beta: 0.1 })).toThrow(/unknown estimator "symmetric-2"/);
  });

  it('holomorphic EP refuses, in one line each, what is not holomorphic or not affine', () => {
    const refuse = (model: ModelConfig, config: Partial<TrainerConfig>) => () =>
      new Trainer(buildModel(model, new Rng(1)), { ...fixedPoint, estimator: 'holomorphic-4', ...config }, { seed: 1 });
    expect(refuse(mlp('hard-sigmoid', 'hopfield'), { solver: { kind: 'gradient-descent', stepSize: 0.5 } })).toThrow(
      /^holomorphic EP relaxes complex states by fixed-point iteration: got solver gradient-descent, expected fixed-point \(primitive form\)$/,
    );
    expect(refuse(mlp('hard-sigmoid', 'hopfield'), {})).toThrow(/^holomorphic EP needs the primitive form .*not holomorphic$/);
    expect(refuse(mlp('half-clip', 'primitive'), {})).toThrow(/^activation "half-clip" of layer 1 is not holomorphic \(a clip has no complex extension\)/);
    expect(refuse(mlp('sigmoid', 'primitive', 'ce'), {})).not.toThrow();
    // a cost of the user's own: no complex nudge is known for it
    const base = buildModel(mlp('sigmoid', 'primitive'), new Rng(1));
    const mse = base.cost;
    const hinge = {
      name: 'my-cost',
      params: {},
      cost: mse.cost.bind(mse),
      nudgeField: mse.nudgeField.bind(mse),
      scores: mse.scores.bind(mse),
      paramGrads: () => ({}),
    };
    const custom = new EnergyNetwork({ ...base, cost: hinge });
    expect(() => createEstimator('holomorphic-4', { beta: 0.1 }).check?.(custom, new FixedPoint())).toThrow(
      /^cost "my-cost" has no complex nudge here: holomorphic EP supports the mse cost and the ce readout$/,
    );
    const conv = (pool: 'max' | 'avg'): ModelConfig => ({
      kind: 'conv',
      inputShape: [6, 6, 1],
      channels: [2],
      kernels: [3],
      pools: [pool],
      dense: [3],
      activation: 'ernoult-sigmoid',
      cost: 'mse',
    });
    expect(refuse(conv('max'), {})).toThrow(/^term \S+ max-pools: its field is not affine in the activities/);
    expect(refuse(conv('avg'), {})).not.toThrow();
    for (const f of [refuse(mlp('hard-sigmoid', 'hopfield'), {}), refuse(conv('max'), {})]) expect(f).toThrow(/^[^\n]+$/);
  });

  it('the three seed estimators compute exactly the formulas they did (bitwise), random-sign drawing from the Rng as before', () => {
    const net = buildModel(mlp('ernoult-sigmoid', 'primitive'), new Rng(4));
    const rng = new Rng(5);
    const x = tf.tensor2d(rng.uniformArray(5 * 16, 0, 1), [5, 16]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0], 'int32'), 4).toFloat();
    const bound = net.bind(x);
    const solver = new FixedPoint('synchronous');
    const init = net.zeroState(5);
    const req = { bound, y, solver, init, free: { maxSteps: 15 }, nudged: { maxSteps: 6 } };
    const free = solver.relax(bound, init, req.free);
    const nudge = (b: number) => solver.relax(bound, free.state, { ...req.nudged, nudge: { beta: b, y } });
    const values = (g: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(g).map(([k, t]) => [k, Array.from(t.dataSync())]));
    const [p, m] = [nudge(0.3), nudge(-0.3)];
    const want = {
      'one-sided': values(bound.paramGradsDiff(p.state, free.state, 1 / 0.3)),
      symmetric: values(bound.paramGradsDiff(p.state, m.state, 1 / (2 * 0.3))),
      'random-sign': values(bound.paramGradsDiff(m.state, free.state, 1 / -0.3)),
    };
    for (const [name, draw] of [
      ['one-sided', 0.3],
      ['symmetric', 0.3],
      ['random-sign', -0.3],
    ] as const) {
      const est = createEstimator(name, { beta: 0.3, rng: new Rng(1) }).estimateFrom(req, free, draw);
      expect(values(est.grads), name).toEqual(want[name]);
      expect(est.beta).toBe(draw);
      est.nudged.forEach(disposeRelaxation);
      tf.dispose(Object.values(est.grads));
    }
    const signs = new Rng(8);
    const rs = createEstimator('random-sign', { beta: 0.3, rng: new Rng(8) });
    for (let i = 0; i < 20; i++) expect(rs.draw()).toBe(0.3 * signs.sign());
    [free, p, m].forEach(disposeRelaxation);
    tf.dispose([x, y, ...init]);
    bound.dispose();
  });

  it('a user-registered estimator trains through the Trainer, which draws from it once per batch', () => {
    let made: RichardsonEstimator | undefined;
    registerEstimator('richardson', ({ beta }) => (made = new RichardsonEstimator(beta)));
    expect(estimatorNames()).toContain('richardson');
    const { before, after, trainer } = trainError(mlp('ernoult-sigmoid', 'primitive'), { ...fixedPoint, estimator: 'richardson' }, 3);
    expect(trainer.estimator).toBe(made);
    expect(made!.draws).toBe(3 * (160 / 20));
    expect(before).toBeGreaterThan(0.5);
    expect(after).toBeLessThan(0.3);
    trainer.dispose();
  });

  it('five-phase and holomorphic-3 train the same network', () => {
    for (const estimator of ['five-phase', 'holomorphic-3']) {
      const { before, after, trainer } = trainError(mlp('ernoult-sigmoid', 'primitive'), { ...fixedPoint, estimator }, 3);
      expect(before, estimator).toBeGreaterThan(0.5);
      expect(after, estimator).toBeLessThan(0.3);
      trainer.dispose();
    }
  });

  it('GradientDescent is refused by holomorphic EP even when called directly', () => {
    const net = buildModel(mlp('sigmoid', 'primitive'), new Rng(1));
    expect(() => createEstimator('holomorphic-3', { beta: 0.1 }).check?.(net, new GradientDescent(0.5))).toThrow(/got solver gradient-descent/);
  });
});
