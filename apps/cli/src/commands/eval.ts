import { ConfigError } from '@eqprop/core';
import { numBatches } from '@eqprop/datasets';
import { BEST_PARAMS_FILE, createSession, evaluate, loadCheckpoint, pct, RunDir, resolveWorkers, runDirReader, validateConfig } from '@eqprop/experiments';
import type { ParticleStore } from '@eqprop/learning';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
import { loadParams, type ModelConfig, type SavedParams } from '@eqprop/models';
import { numberFlag, parseFlags } from '../args.js';

export const EVAL_HELP = `eqprop eval --run DIR [--split test|train|validation] [--best] [--eval-steps N] [--backend NAME] [--workers N]
  evaluates the last checkpoint of a run folder on the official test set (or the training set, or
  its validation set), relaxed from zero; a run with persistent evaluation is also evaluated from
  its test particles; --best: the parameters of the epoch of lowest validation error
  (best-params.json of a run with --validation), from zero;
  --workers N shares each batch between N replicas in worker threads (main thread included;
  default: the run's own, else one per core for a convnet, one for an MLP)`;

export async function evalCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    run: { type: 'string' },
    split: { type: 'string' },
    'eval-steps': { type: 'string' },
    backend: { type: 'string' },
    workers: { type: 'string' },
    best: { type: 'boolean' },
  });
  if (typeof flags.run !== 'string') throw new ConfigError('eqprop eval needs --run <run folder>');
  const split = flags.split ?? 'test';
  if (split !== 'test' && split !== 'train' && split !== 'validation') throw new ConfigError(`--split must be test, train or validation, got "${split}"`);
  const runDir = RunDir.open(flags.run);
  const config = validateConfig(runDir.readJson('config.json'));
  if (split === 'validation' && config.data.validation === undefined)
    throw new ConfigError(`${runDir.path} holds out no validation set (train it with --validation N)`);
  if (flags.best && !runDir.has(BEST_PARAMS_FILE))
    throw new ConfigError(`${runDir.path} has no ${BEST_PARAMS_FILE} (a run trained with --validation N writes it)`);
  if (flags.backend) config.backend = flags.backend as typeof config.backend;
  const evalSteps = numberFlag('eval-steps', flags['eval-steps']);
  if (evalSteps !== undefined) config.trainer.evalSteps = evalSteps;
  const workers = numberFlag('workers', flags.workers) ?? resolveWorkers(config);
  if (!Number.isInteger(workers) || workers < 1) throw new ConfigError(`--workers must be a positive integer, got ${workers}`);
  if (workers > 1 && config.algorithm === 'bptt') throw new ConfigError('--workers applies to EP only: BPTT evaluates on one thread');
  const session = await createSession(validateConfig(config));
  const { trainer } = session;
  // the particles belong to the last checkpoint: not to the best epoch's parameters
  const particles = flags.best ? undefined : split === 'test' ? trainer.evalParticles : split === 'validation' ? trainer.validParticles : undefined;
  if (flags.best) {
    const best = runDir.readJson<{ epoch: number; params: SavedParams }>(BEST_PARAMS_FILE);
    loadParams(session.net.params, best.params);
    process.stdout.write(`parameters of epoch ${best.epoch} (lowest validation error)\n`);
  } else if (trainer.evalParticles) {
    // the test particles are part of the checkpoint: load (and check) all of it
    const perEpoch = numBatches(session.train.count, config.batchSize, true);
    if (!loadCheckpoint(runDirReader(runDir), { trainer, epochs: config.epochs, batchesPerEpoch: perEpoch }))
      throw new ConfigError(`${runDir.path} has no checkpoint yet`);
  } else loadParams(session.net.params, runDir.readJson<{ params: SavedParams }>('checkpoint.json').params);
  // replicas copy the parameters when they start: after the checkpoint is loaded
  const parallel =
    workers > 1 ? await DataParallelTrainer.create(session.trainer, config.model as ModelConfig, config.seed, { workers, backend: config.backend }) : undefined;
  const ds = split === 'test' ? session.test : split === 'validation' ? session.valid! : session.train;
  const report = async (how: string, from?: ParticleStore) => {
    const t0 = Date.now();
    const r = await evaluate(session, ds, parallel, from);
    process.stdout.write(
      `${split} error ${pct(r.error).trim()} (loss ${r.loss.toFixed(4)}) on ${ds.count} examples ${how} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  };
  try {
    if (particles) await report(`from the ${split === 'test' ? 'test' : 'validation'} particles`, particles);
    await report('from zero');
  } finally {
    await parallel?.close();
  }
}
