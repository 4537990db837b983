import { type CurvePoint, type Learner, type LearnerKind, type LearningCurve, makeLearner } from '@eqprop/analysis';
import { type Batch, Rng } from '@eqprop/core';
import { batches, type Dataset, numBatches } from '@eqprop/datasets';
import { buildModel, type ModelConfig } from '@eqprop/models';
import type { RunConfig } from './config.js';
import { epochRng } from './training-run.js';

export interface CurveOptions {
  /** Training-error points per epoch (default 10). */
  pointsPerEpoch?: number;
  /** A line per epoch. */
  log?: (line: string) => void;
}

/**
 * Trains one learner on a config's model, optimizer and data order (the model built from the
 * config's seed, so every learner of a comparison starts from the same weights), evaluating on
 * the test set before training and after every epoch.
 */
export function trainCurve(
  config: RunConfig,
  kind: LearnerKind,
  data: { train: Dataset; test: Dataset },
  name: string,
  opts: CurveOptions = {},
): LearningCurve {
  const { train, test } = data;
  const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
  // seed + 1 for the trainer, as `eqprop train` does (random-sign β, particles)
  // every learner is evaluated from zero, the same way: the feedforward twin has no equilibrium to keep
  const learner = makeLearner(kind, net, { ...config.trainer, persistentEval: false }, { seed: config.seed + 1, trainCount: train.count });
  const perEpoch = numBatches(train.count, config.batchSize, true);
  const every = Math.max(1, Math.floor(perEpoch / (opts.pointsPerEpoch ?? 10)));
  const evaluate = (epoch: number) => {
    const r = learner.evaluate(batches(test, config.evalBatchSize, { shuffle: false, flatten: config.data.flatten }));
    return { epoch, testError: r.error, testLoss: r.loss };
  };
  const curve: LearningCurve = { name, train: [], test: [evaluate(0)], seconds: 0 };
  let total = 0;
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const lrScale = config.lrSchedule === 'cosine' ? 0.5 * (1 + Math.cos((Math.PI * epoch) / config.epochs)) : 1;
      const t0 = Date.now();
      let acc = { errors: 0, loss: 0, count: 0 };
      let b = 0;
      // the data order of `eqprop train`: it depends only on the seed and the epoch
      for (const batch of batches(train, config.batchSize, { rng: epochRng(config.seed, epoch), dropLast: true, flatten: config.data.flatten })) {
        const r = step(learner, batch, lrScale);
        acc = { errors: acc.errors + r.errors, loss: acc.loss + r.loss * r.size, count: acc.count + r.size };
        b++;
        total++;
        const stop = config.maxBatches !== undefined && total >= config.maxBatches;
        if (b % every === 0 || b === perEpoch || stop) {
          curve.train.push(point(epoch + b / perEpoch, acc));
          acc = { errors: 0, loss: 0, count: 0 };
        }
        if (stop) break;
      }
      curve.seconds += (Date.now() - t0) / 1000;
      const ev = evaluate(epoch + b / perEpoch);
      curve.test.push(ev);
      opts.log?.(
        `${name}: epoch ${epoch + 1}/${config.epochs}  training error ${pct(curve.train.at(-1)?.trainError)}  test error ${pct(ev.testError)}  ${curve.seconds.toFixed(1)} s`,
      );
      if (config.maxBatches !== undefined && total >= config.maxBatches) break;
    }
  } finally {
    learner.dispose();
    for (const v of Object.values(net.params)) v.dispose();
  }
  return curve;
}

function step(learner: Learner, batch: Batch, lrScale: number) {
  try {
    return learner.trainBatch(batch, lrScale);
  } finally {
    batch.x.dispose();
    batch.y.dispose();
  }
}

function point(epoch: number, acc: { errors: number; loss: number; count: number }): CurvePoint {
  return { epoch: Number(epoch.toFixed(4)), trainError: acc.errors / Math.max(acc.count, 1), trainLoss: acc.loss / Math.max(acc.count, 1) };
}

function pct(x: number | undefined): string {
  return x === undefined ? '—' : `${(100 * x).toFixed(2)}%`;
}
