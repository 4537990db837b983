import { loadParams, type ModelConfig, type SavedParams } from '@eqprop/models';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
import { ConfigError } from '@eqprop/core';
import { parseFlags, numberFlag } from '../args.js';
import { validateConfig } from '../config.js';
import { RunDir } from '../run-dir.js';
import { createSession, evaluate, pct, resolveWorkers } from '../training-run.js';

export const EVAL_HELP = `eqprop eval --run DIR [--split test|train] [--eval-steps N] [--backend NAME] [--workers N]
  evaluates the last checkpoint of a run folder on the official test set (or the training set);
  --workers N shares each batch between N replicas in worker threads (main thread included;
  default: the run's own, else one per core for a convnet, one for an MLP)`;

export async function evalCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    run: { type: 'string' },
    split: { type: 'string' },
    'eval-steps': { type: 'string' },
    backend: { type: 'string' },
    workers: { type: 'string' },
  });
  if (typeof flags.run !== 'string') throw new ConfigError('eqprop eval needs --run <run folder>');
  const split = flags.split ?? 'test';
  if (split !== 'test' && split !== 'train') throw new ConfigError(`--split must be test or train, got "${split}"`);
  const runDir = RunDir.open(flags.run);
  const config = validateConfig(runDir.readJson('config.json'));
  if (flags.backend) config.backend = flags.backend as typeof config.backend;
  const evalSteps = numberFlag('eval-steps', flags['eval-steps']);
  if (evalSteps !== undefined) config.trainer.evalSteps = evalSteps;
  const workers = numberFlag('workers', flags.workers) ?? resolveWorkers(config);
  if (!Number.isInteger(workers) || workers < 1) throw new ConfigError(`--workers must be a positive integer, got ${workers}`);
  if (workers > 1 && config.algorithm === 'bptt') throw new ConfigError('--workers applies to EP only: BPTT evaluates on one thread');
  const session = await createSession(validateConfig(config));
  loadParams(session.net.params, runDir.readJson<{ params: SavedParams }>('checkpoint.json').params);
  // replicas copy the parameters when they start: after the checkpoint is loaded
  const parallel = workers > 1 ? await DataParallelTrainer.create(session.trainer, config.model as ModelConfig, config.seed, { workers, backend: config.backend }) : undefined;
  const t0 = Date.now();
  let r;
  try {
    r = await evaluate(session, split === 'test' ? session.test : session.train, parallel);
  } finally {
    await parallel?.close();
  }
  process.stdout.write(`${split} error ${pct(r.error).trim()} (loss ${r.loss.toFixed(4)}) on ${split === 'test' ? session.test.count : session.train.count} examples in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}
