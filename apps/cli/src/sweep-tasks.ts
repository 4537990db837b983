import { type BetaPoint, betaSweepPoint, type LearnerKind, type LearningCurve } from '@eqprop/analysis';
import { type Batch, ConfigError, Rng, setupBackend } from '@eqprop/core';
import { batches, type Dataset } from '@eqprop/datasets';
import { makeSolver } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import type { RunConfig } from './config.js';
import { loadData } from './data.js';
import { trainCurve } from './learning-curve.js';
import { requireSyncReads } from './sync-reads.js';

/** One point of the β sweep: every estimator at one β, on the sweep's fixed batches. */
export interface BetaTask {
  kind: 'beta';
  config: RunConfig;
  beta: number;
  batches: number;
  freeSteps: number;
  nudgedSteps: number;
}

/** One training run: a learner of a comparison, or one grid value of a batch-size or lr sweep. */
export interface TrainTask {
  kind: 'train';
  config: RunConfig;
  learner: LearnerKind;
  /** Legend label of the curve. */
  name: string;
  pointsPerEpoch: number;
}

export type Task = BetaTask | TrainTask;
export type TaskResult = BetaPoint | LearningCurve;

/**
 * What a worker process keeps between points: the backend it set up and the datasets it loaded
 * (keyed by their config), so a worker pays for them once.
 */
export class TaskContext {
  private backend?: string;
  private data = new Map<string, { train: Dataset; test: Dataset }>();

  async run(task: Task, log: (line: string) => void): Promise<TaskResult> {
    if (this.backend !== task.config.backend) {
      await setupBackend(task.config.backend);
      requireSyncReads('a sweep point or a comparison');
      this.backend = task.config.backend;
    }
    const key = JSON.stringify(task.config.data);
    let data = this.data.get(key);
    if (!data) {
      data = await loadData(task.config.data);
      this.data.set(key, data);
    }
    return task.kind === 'beta'
      ? runBeta(task, data.train)
      : trainCurve(task.config, task.learner, data, task.name, { pointsPerEpoch: task.pointsPerEpoch, log });
  }
}

/**
 * The sweep's batches are the first `count` of the seed's shuffled order; random-sign draws one
 * sign per batch from seed + 1. Every worker derives the same ones.
 */
function runBeta(task: BetaTask, train: Dataset): BetaPoint {
  const { config } = task;
  const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
  const fixed: Batch[] = [];
  for (const b of batches(train, config.batchSize, { rng: new Rng(config.seed), dropLast: true, flatten: config.data.flatten })) {
    fixed.push(b);
    if (fixed.length === task.batches) break;
  }
  if (fixed.length < task.batches)
    throw new ConfigError(`the β sweep needs ${task.batches} batches of ${config.batchSize}, but the training set has ${train.count} examples`);
  const signRng = new Rng(config.seed + 1);
  const signs = fixed.map(() => signRng.sign());
  try {
    return betaSweepPoint(net, fixed, task.beta, { solver: sweepSolver(config), freeSteps: task.freeSteps, nudgedSteps: task.nudgedSteps, signs });
  } finally {
    for (const b of fixed) [b.x, b.y].forEach((t) => t.dispose());
    for (const v of Object.values(net.params)) v.dispose();
  }
}

/**
 * The solver of a preset, with the alternating fixed-point schedule made synchronous: both have
 * the same fixed points, and recurrent backprop differentiates the synchronous step.
 */
export function sweepSolver(config: RunConfig) {
  const s = config.trainer.solver;
  return s.kind === 'fixed-point' ? new FixedPoint('synchronous') : makeSolver(s);
}
