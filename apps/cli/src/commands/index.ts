import { BENCH_HELP, benchCommand } from './bench.js';
import { COMPARE_HELP, compareCommand } from './compare.js';
import { DB_HELP, dbCommand } from './db.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { GDU_HELP, gduCommand } from './gdu.js';
import { GPU_CHECK_HELP, gpuCheckCommand } from './gpu-check.js';
import { presetsCommand } from './presets.js';
import { RESULTS_HELP, resultsCommand } from './results.js';
import { RUNS_HELP, runsCommand } from './runs.js';
import { SWEEP_HELP, sweepCommand } from './sweep.js';
import { TRAIN_HELP, trainCommand } from './train.js';
import { WORKER_HELP, workerCommand } from './worker.js';

export interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<void>;
}

/** Every `eqprop <name>` subcommand; a new command is a new file plus one line here. */
export const commands: Record<string, Command> = {
  train: { summary: 'train a network with Equilibrium Propagation', help: TRAIN_HELP, run: trainCommand },
  eval: { summary: "evaluate a run folder's checkpoint", help: EVAL_HELP, run: evalCommand },
  presets: { summary: 'list the paper presets', help: 'eqprop presets', run: presetsCommand },
  bench: { summary: 'run the benchmark suite (JSON results)', help: BENCH_HELP, run: benchCommand },
  gdu: { summary: 'EP updates vs BPTT gradients, step by step (Ernoult et al. 2019)', help: GDU_HELP, run: gduCommand },
  compare: { summary: 'train EP and baselines (bp, bptt, rbp, chl) from the same weights', help: COMPARE_HELP, run: compareCommand },
  sweep: { summary: 'β sweep of the gradient estimate; batch-size and lr sweeps', help: SWEEP_HELP, run: sweepCommand },
  db: { summary: 'the embedded PostgreSQL server of the runs database: start, stop, url', help: DB_HELP, run: dbCommand },
  worker: { summary: 'take training jobs from the job queue on a runs database until stopped', help: WORKER_HELP, run: workerCommand },
  runs: { summary: 'runs recorded in a runs database: list, show, compare', help: RUNS_HELP, run: runsCommand },
  results: { summary: 'results pages, one per preset, from run folders (markdown + learning curves)', help: RESULTS_HELP, run: resultsCommand },
  'gpu-check': { summary: 'WebGPU against wasm on every term, solver, estimator and preset batch', help: GPU_CHECK_HELP, run: gpuCheckCommand },
};
