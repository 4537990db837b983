import { type BetaPoint, betaSweepPoint, LEARNERS, type LearnerKind, type LearningCurve } from '@eqprop/analysis';
import { type Batch, ConfigError, Rng, setupBackend } from '@eqprop/core';
import { batches, type Dataset } from '@eqprop/datasets';
import { checkEstimatorName, makeSolver } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { FixedPoint } from '@eqprop/solvers';
import { type RunConfig, validateConfig } from './config.js';
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
  /** Registered estimator names (default: one-sided, symmetric, random-sign). */
  estimators?: string[];
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
 * A task as a job carries it (JSON from the queue), checked: its config through the schema, its
 * numbers in range. One line naming the field when it is not a task.
 */
export function parseTask(raw: unknown): Task {
  const t = raw as Record<string, unknown> | null;
  if (!t || typeof t !== 'object') throw new ConfigError("a sweep point's task must be an object");
  const config = validateConfig(t.config);
  const count = (name: string) => {
    const v = t[name];
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ConfigError(`a sweep point's ${name} must be an integer ≥ 1, got ${JSON.stringify(v)}`);
    return v as number;
  };
  if (t.kind === 'beta') {
    if (typeof t.beta !== 'number' || !(t.beta > 0) || !Number.isFinite(t.beta))
      throw new ConfigError(`a sweep point's beta must be a number > 0, got ${JSON.stringify(t.beta)}`);
    let estimators: string[] | undefined;
    if (t.estimators !== undefined) {
      if (!Array.isArray(t.estimators) || t.estimators.length === 0)
        throw new ConfigError(`a sweep point's estimators must be a list of names, got ${JSON.stringify(t.estimators)}`);
      estimators = t.estimators.map(String);
      estimators.forEach(checkEstimatorName);
    }
    return {
      kind: 'beta',
      config,
      beta: t.beta,
      batches: count('batches'),
      freeSteps: count('freeSteps'),
      nudgedSteps: count('nudgedSteps'),
      ...(estimators ? { estimators } : {}),
    };
  }
  if (t.kind === 'train') {
    if (!(LEARNERS as readonly unknown[]).includes(t.learner))
      throw new ConfigError(`a sweep point's learner must be one of ${LEARNERS.join(', ')}, got ${JSON.stringify(t.learner)}`);
    if (typeof t.name !== 'string') throw new ConfigError(`a sweep point's name must be a string, got ${JSON.stringify(t.name)}`);
    return { kind: 'train', config, learner: t.learner as LearnerKind, name: t.name, pointsPerEpoch: count('pointsPerEpoch') };
  }
  throw new ConfigError(`a sweep point's kind must be "beta" or "train", got ${JSON.stringify(t.kind)}`);
}

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
    return betaSweepPoint(net, fixed, task.beta, {
      solver: sweepSolver(config),
      freeSteps: task.freeSteps,
      nudgedSteps: task.nudgedSteps,
      signs,
      estimators: task.estimators,
    });
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
