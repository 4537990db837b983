import { existsSync, readFileSync } from 'node:fs';
import { backendInfo, ConfigError, describeBackend, EqpropError } from '@eqprop/core';
import {
  BEST_PARAMS_FILE,
  createSession,
  DEFAULT_PRESET,
  type EpochMetrics,
  getPreset,
  type JobView,
  jobKey,
  mergeConfig,
  openQueue,
  pct,
  type RunConfig,
  RunDir,
  resolveWorkers,
  type TrainJobData,
  trainRun,
  validateConfig,
} from '@eqprop/experiments';
import type { SolverConfig } from '@eqprop/learning';
import { listFlag, numberFlag, parseFlags } from '../args.js';
import { openTrainRecorder, resolveDbUrl } from './runs.js';

export const TRAIN_HELP = `eqprop train [--preset NAME | --config FILE] [flags]
  --preset NAME          a paper preset (default ${DEFAULT_PRESET}; see \`eqprop presets\`)
  --config FILE          JSON config merged over the preset; its data.dataset may be mnist, fashion-mnist,
                         kmnist, cifar10, cifar100 (data.labels fine|coarse) or svhn (data.download: true
                         fetches the official files, checksums verified)
  --resume DIR           continue a run from its last checkpoint
  --epochs N  --batch-size N  --seed N  --backend wasm|webgpu|auto|cpu|tensorflow
  --layers 784,500,10    layer sizes (input … output)
  --dropout 0,0.2,0      drop probability of each layer of the energy, input first (with a CE readout
                         its class count excluded): masks drawn per batch, shared by every phase;
                         evaluation unmasked (one trainer thread)
  --beta B  --estimator one-sided|symmetric|random-sign|five-phase|holomorphic-N (or one a plugin registered)
  --points N             holomorphic EP: nudges on the circle (N ≥ 2; holomorphic-N sets it too)
  --lr A,B,…             learning rates, one per layer (input to output) or one for all
  --optimizer sgd|momentum|adam  --lr-schedule constant|cosine
  --free-steps T  --nudged-steps K  --eval-steps N
  --tol R                stop each phase once no state moves more than R in a step (read every 5 steps)
  --tol-per-example      apply --tol to each example: settled examples leave the batch, the rest relax on;
                         each example is read when its decay predicts the crossing (--no-predict-stops:
                         every 5 steps)
  --step-size EPS        gradient descent: ε; fixed point: damping ε in (0, 1] (1 = s ← σ(∂Φ/∂s))
  --solver gradient-descent|fixed-point  --schedule synchronous|alternating
  --nudge-at inside|outside   fixed point: the nudge inside σ (Laborieux) or added after it (Ernoult)
  --no-persistent        do not warm-start from persistent particles
  --same-update          vector-field models (vf-mlp, vf-conv): B gets the same update as W
                         (Laborieux et al. 2021's --same-update); the W–B angles are logged every epoch
  --persistent-eval      evaluate each test example from its equilibrium at the last evaluation, as the
                         reference code of Scellier & Bengio does (their presets' default; the error from
                         zero is reported beside it); --no-persistent-eval: from zero
  --data-dir DIR  --train-limit N  --test-limit N  --max-batches N
  --validation N         hold out the last N training examples as a validation set, evaluated every
                         epoch; the summary gives the test error at the epoch of lowest validation
                         error and best-params.json holds that epoch's parameters
  --algorithm ep|bptt|cep   EP (default), BPTT through the same dynamics (from the same weights), or
                         continual EP: the weights updated at every nudged step (SGD, fixed point, one-sided)
  --kernels fused|tfjs|auto   relaxation and optimizer step: auto (default) the fused CPU kernels of
                         @eqprop/kernels where they apply (dense networks, fixed point or gradient
                         descent), tfjs ops elsewhere; fused (refuses where they do not apply); tfjs ops
  --kernel-threads N     threads the fused kernels share a batch over, main thread included (default:
                         2 on 2 cores or more for batches of 50 or more, else 1; results do not depend on it)
  --workers N            data-parallel replicas in worker threads, main thread included
                         (default: one per core for a convnet, ≥ 5 examples each; 1 for an MLP)
  --checkpoint-every S   seconds between mid-epoch checkpoints (default 60)
  --checkpoint-every-batches N   also checkpoint every N batches
  --out DIR              where run folders go (default runs/)
  --db URL               record the run (config, code revision, backend, machine, each epoch, summary)
                         in a runs database (default: EQPROP_DB if set; see \`eqprop db\`, \`eqprop runs\`)
  --seeds 1,2,3          with --db: queue one job per seed (this config with that seed) for \`eqprop worker\`;
                         idempotent (a job per config: a rerun queues only what is missing); prints the
                         job ids and returns
  --wait                 with --seeds: wait for the jobs, one progress line (done/running/failed per seed)
  --quiet                no progress bar`;

export const TRAIN_OPTIONS = {
  preset: { type: 'string' },
  config: { type: 'string' },
  resume: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  kernels: { type: 'string' },
  'kernel-threads': { type: 'string' },
  layers: { type: 'string' },
  dropout: { type: 'string' },
  beta: { type: 'string' },
  estimator: { type: 'string' },
  points: { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  'lr-schedule': { type: 'string' },
  'free-steps': { type: 'string' },
  'nudged-steps': { type: 'string' },
  'eval-steps': { type: 'string' },
  tol: { type: 'string' },
  'tol-per-example': { type: 'boolean' },
  'no-predict-stops': { type: 'boolean' },
  'step-size': { type: 'string' },
  'nudge-at': { type: 'string' },
  solver: { type: 'string' },
  schedule: { type: 'string' },
  'no-persistent': { type: 'boolean' },
  'same-update': { type: 'boolean' },
  'persistent-eval': { type: 'boolean' },
  'no-persistent-eval': { type: 'boolean' },
  'data-dir': { type: 'string' },
  'train-limit': { type: 'string' },
  'test-limit': { type: 'string' },
  validation: { type: 'string' },
  'max-batches': { type: 'string' },
  out: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'checkpoint-every-batches': { type: 'string' },
  workers: { type: 'string' },
  quiet: { type: 'boolean' },
  algorithm: { type: 'string' },
  db: { type: 'string' },
  seeds: { type: 'string' },
  wait: { type: 'boolean' },
} as const;

/** The config field each value-taking flag sets (an error in that field names the flag too). */
const FLAG_FIELDS: Record<string, string> = {
  epochs: 'epochs',
  'batch-size': 'batchSize',
  seed: 'seed',
  backend: 'backend',
  'max-batches': 'maxBatches',
  'checkpoint-every': 'checkpointEvery',
  'checkpoint-every-batches': 'checkpointEveryBatches',
  algorithm: 'algorithm',
  workers: 'workers',
  kernels: 'kernels',
  'kernel-threads': 'kernelThreads',
  'lr-schedule': 'lrSchedule',
  layers: 'model.sizes',
  dropout: 'model.dropout',
  'data-dir': 'data.dataDir',
  'train-limit': 'data.trainLimit',
  'test-limit': 'data.testLimit',
  validation: 'data.validation',
  beta: 'trainer.beta',
  estimator: 'trainer.estimator',
  points: 'trainer.estimatorOptions.points',
  'free-steps': 'trainer.freeSteps',
  'nudged-steps': 'trainer.nudgedSteps',
  'eval-steps': 'trainer.evalSteps',
  tol: 'trainer.tol',
  optimizer: 'trainer.optimizer.kind',
  lr: 'trainer.optimizer.lrs',
  'step-size': 'trainer.solver.stepSize',
  schedule: 'trainer.solver.schedule',
  'nudge-at': 'trainer.solver.nudge',
  solver: 'trainer.solver.kind',
  'same-update': 'model.sameUpdate',
};

/** Preset, then config file, then flags; validated as a whole. */
export function resolveConfig(flags: Record<string, string | boolean | undefined>): RunConfig {
  let config: unknown = getPreset((flags.preset as string) ?? DEFAULT_PRESET);
  if (typeof flags.config === 'string') {
    if (!existsSync(flags.config)) throw new ConfigError(`config file "${flags.config}" does not exist`);
    let file: unknown;
    try {
      file = JSON.parse(readFileSync(flags.config, 'utf8'));
    } catch (e) {
      throw new ConfigError(`config file "${flags.config}" is not valid JSON: ${(e as Error).message}`);
    }
    const base = (file as { preset?: string }).preset;
    if (base && !flags.preset) config = getPreset(base);
    config = mergeConfig(config, file);
  }
  const c = config as RunConfig;
  const n = (name: string) => numberFlag(name, flags[name]);
  if (flags['persistent-eval'] && flags['no-persistent-eval']) throw new ConfigError('give --persistent-eval or --no-persistent-eval, not both');
  const over: Record<string, unknown> = {
    epochs: n('epochs'),
    lrSchedule: flags['lr-schedule'],
    batchSize: n('batch-size'),
    seed: n('seed'),
    backend: flags.backend,
    maxBatches: n('max-batches'),
    checkpointEvery: n('checkpoint-every'),
    checkpointEveryBatches: n('checkpoint-every-batches'),
    algorithm: flags.algorithm,
    workers: n('workers'),
    kernels: flags.kernels,
    kernelThreads: n('kernel-threads'),
    model: { sizes: listFlag('layers', flags.layers), dropout: listFlag('dropout', flags.dropout), sameUpdate: flags['same-update'] ? true : undefined },
    data: { dataDir: flags['data-dir'], trainLimit: n('train-limit'), testLimit: n('test-limit'), validation: n('validation') },
    trainer: {
      beta: n('beta'),
      estimator: flags.estimator,
      estimatorOptions: flags.points !== undefined ? { points: n('points') } : undefined,
      freeSteps: n('free-steps'),
      nudgedSteps: n('nudged-steps'),
      evalSteps: n('eval-steps'),
      tol: n('tol'),
      tolPerExample: flags['tol-per-example'] ? true : undefined,
      predictStops: flags['no-predict-stops'] ? false : undefined,
      persistent: flags['no-persistent'] ? false : undefined,
      persistentEval: flags['no-persistent-eval'] ? false : flags['persistent-eval'] ? true : undefined,
      optimizer: { kind: flags.optimizer, lrs: listFlag('lr', flags.lr) },
    },
  };
  // the solver is replaced, not merged: keys of one kind mean something else (or nothing) in the other
  c.trainer.solver = solverFromFlags(c.trainer.solver, flags, n);
  // a bad value given as a flag is named by its flag
  const flagFor = (field: string) => {
    const flag = Object.keys(FLAG_FIELDS).find((f) => flags[f] !== undefined && (field === FLAG_FIELDS[f] || field.startsWith(`${FLAG_FIELDS[f]}.`)));
    return flag && `--${flag}`;
  };
  return validateConfig(mergeConfig(c, stripUndefined(over)), flagFor);
}

function stripUndefined(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const s = stripUndefined(x);
    if (s !== undefined && !(typeof s === 'object' && s !== null && !Array.isArray(s) && Object.keys(s).length === 0)) out[k] = s;
  }
  return Object.keys(out).length ? out : undefined;
}

export async function trainCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, TRAIN_OPTIONS);
  if (flags.seeds !== undefined) return enqueueSeeds(flags);
  if (flags.wait) throw new ConfigError('--wait applies to --seeds only');
  const resumeDir = typeof flags.resume === 'string' ? RunDir.open(flags.resume) : undefined;
  const config = resumeDir ? validateConfig(resumeDir.readJson('config.json')) : resolveConfig(flags);
  // a runs database that is down or refuses the password stops the run before any work
  const recorder = await openTrainRecorder(flags.db);
  // the model is built (and checked) before a run folder is made for it
  const session = await createSession(config);
  const runDir = resumeDir ?? RunDir.create((flags.out as string) ?? 'runs', config.preset ?? 'custom');
  if (!resumeDir) runDir.writeJson('config.json', config);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`eqprop train: ${config.preset ?? 'custom'} — ${config.description ?? ''}`.trimEnd());
  log(`run folder: ${runDir.path}`);
  const replicas = resolveWorkers(config);
  log(`backend ${describeBackend()}`);
  log(
    `${replicas > 1 ? `${replicas} replicas, ` : ''}${session.train.count} train${session.valid ? ` / ${session.valid.count} validation` : ''} / ${session.test.count} test examples, batch ${config.batchSize}, ${config.epochs} epochs${config.algorithm === 'bptt' ? ', gradients by BPTT' : config.algorithm === 'cep' ? ', continual EP (weights updated at every nudged step)' : ''}`,
  );
  await recorder?.start({ config, runDir: runDir.path, resumed: Boolean(resumeDir) });
  const t0 = Date.now();
  let history: EpochMetrics[];
  try {
    history = await trainRun(session, {
      runDir,
      resume: Boolean(flags.resume),
      quiet: Boolean(flags.quiet),
      log,
      onEpoch: recorder && ((m) => recorder.epoch(m)),
    });
  } catch (e) {
    await recorder?.fail(e);
    throw e;
  }
  const last = history[history.length - 1];
  const best = history.reduce((a, b) => (b.testError < a.testError ? b : a), last);
  const chosen = last?.validError === undefined ? undefined : history.reduce((a, b) => (b.validError! < a.validError! ? b : a), history[0]);
  const summary = {
    preset: config.preset,
    epochs: history.length,
    finalTestError: last?.testError,
    ...(last?.testTop5Error !== undefined && { finalTestTop5Error: last.testTop5Error }),
    ...(last?.testErrorFromZero !== undefined && { finalTestErrorFromZero: last.testErrorFromZero, evaluation: 'persistent test particles' }),
    bestTestError: best?.testError,
    bestEpoch: best?.epoch,
    ...(chosen && {
      // early stopping without looking at the test set: the epoch of lowest validation error
      validationEpoch: chosen.epoch,
      validationError: chosen.validError,
      testErrorAtValidationEpoch: chosen.testError,
      ...(chosen.testErrorFromZero !== undefined && { testErrorFromZeroAtValidationEpoch: chosen.testErrorFromZero }),
    }),
    finalTrainError: last?.trainError,
    backend: backendInfo().name,
    ...(backendInfo().adapter && { adapter: backendInfo().adapter }),
    secondsPerEpoch: history.reduce((s, m) => s + m.seconds, 0) / Math.max(history.length, 1),
    wallSeconds: (Date.now() - t0) / 1000,
  };
  runDir.writeJson('summary.json', summary);
  await recorder?.end(history, { ...summary, runDir: runDir.path });
  const fromZero = last?.testErrorFromZero === undefined ? '' : ` (${pct(last.testErrorFromZero).trim()} from zero)`;
  if (last) log(`done: test error ${pct(last.testError).trim()}${fromZero} after ${history.length} epochs; run folder ${runDir.path}`);
  if (chosen)
    log(
      `lowest validation error ${pct(chosen.validError!).trim()} at epoch ${chosen.epoch}: test error ${pct(chosen.testError).trim()} there (parameters in ${BEST_PARAMS_FILE})`,
    );
}

/** --solver, --schedule, --step-size and --nudge-at over the configured solver. */
function solverFromFlags(current: SolverConfig, flags: Record<string, string | boolean | undefined>, n: (name: string) => number | undefined): SolverConfig {
  if (['solver', 'schedule', 'step-size', 'nudge-at'].every((f) => flags[f] === undefined)) return current;
  const kind = flags.solver ?? (flags.schedule !== undefined || flags['nudge-at'] !== undefined ? 'fixed-point' : current.kind);
  if (kind !== 'gradient-descent' && kind !== 'fixed-point') {
    throw new ConfigError(`--solver must be gradient-descent or fixed-point, got "${kind}"`);
  }
  if (kind === 'gradient-descent') {
    if (flags.schedule !== undefined || flags['nudge-at'] !== undefined)
      throw new ConfigError('--schedule and --nudge-at apply to the fixed-point solver only');
    return { kind, stepSize: n('step-size') ?? (current.kind === kind ? current.stepSize : 0.5) };
  }
  const base: SolverConfig = current.kind === kind ? current : { kind, schedule: 'synchronous' };
  const out: Record<string, unknown> = { ...base };
  if (flags.schedule !== undefined) out.schedule = flags.schedule;
  if (flags['step-size'] !== undefined) out.stepSize = n('step-size');
  if (flags['nudge-at'] !== undefined) out.nudge = flags['nudge-at'];
  return out as SolverConfig;
}

/**
 * `--seeds 1,2,3 --db URL`: one job per seed (this config with that seed) on the job queue; a job's
 * key is the hash of its config, so a rerun queues only what is missing. Prints the job ids; with
 * --wait, one progress line until every job is done or failed.
 */
async function enqueueSeeds(flags: Record<string, string | boolean | undefined>): Promise<void> {
  if (flags.resume !== undefined) throw new ConfigError('--seeds queues new runs: it does not combine with --resume');
  if (flags.seed !== undefined) throw new ConfigError('give --seed or --seeds, not both');
  const url = resolveDbUrl(flags.db, { embedded: false });
  if (url === undefined) throw new ConfigError('--seeds queues jobs on a database: give --db URL (or set EQPROP_DB)');
  const seeds = listFlag('seeds', flags.seeds)!;
  if (seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new ConfigError(`--seeds expects integers ≥ 0, got "${flags.seeds}"`);
  if (new Set(seeds).size !== seeds.length) throw new ConfigError(`--seeds lists a seed twice: "${flags.seeds}"`);
  const base = resolveConfig(flags);
  const jobs: TrainJobData[] = seeds.map((seed) => {
    const config = validateConfig({ ...base, seed });
    const key = jobKey('train', config);
    return { key, seed, config, runName: `${config.preset ?? 'custom'}-seed${seed}-${key.slice(0, 10)}` };
  });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const queue = await openQueue(url);
  try {
    const queued = await queue.enqueueTrain(jobs);
    for (const j of queued) log(`seed ${j.seed}: job ${j.jobId} ${j.created ? 'queued' : `already in the queue (${j.status})`}`);
    log(`${queued.filter((j) => j.created).length} of ${queued.length} job(s) queued on ${queue.safeUrl}; \`eqprop worker --db URL\` runs them`);
    if (!flags.wait) return;
    let last = '';
    for (;;) {
      const views = await queue.status(jobs.map((j) => j.key));
      const line = progressLine(views);
      if (line !== last) log(line);
      last = line;
      if (views.every((v) => v.status === 'done' || v.status === 'failed')) {
        const failed = views.filter((v) => v.status === 'failed');
        if (failed.length) throw new EqpropError('E_JOB', `${failed.length} job(s) failed: ${failed.map((v) => `seed ${v.seed}: ${v.error}`).join('; ')}`);
        log(`all ${views.length} job(s) done: runs ${views.map((v) => v.runId).join(', ')}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await queue.close();
  }
}

function progressLine(views: JobView[]): string {
  const count = (s: string) => views.filter((v) => v.status === s).length;
  // seed:status, and for a running job its last stored checkpoint (epoch.batch) and worker
  const at = (v: JobView) => (v.checkpointEpoch === null ? '' : ` at ${v.checkpointEpoch}.${v.checkpointBatch}`);
  const each = views.map((v) => `${v.seed}:${v.status}${v.status === 'running' ? `${at(v)} on ${v.worker}` : ''}`).join(', ');
  return `${count('done')} done, ${count('running')} running, ${count('queued')} queued, ${count('failed')} failed  [${each}]`;
}
