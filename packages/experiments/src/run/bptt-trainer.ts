import { SourceTrainer } from '@eqprop/analysis';
import { BpttEstimator } from '@eqprop/baselines';
import type { EnergyNetwork } from '@eqprop/energies';
import type { TrainerConfig, TrainerOptions } from '@eqprop/learning';

/**
 * The EP trainer with its gradient replaced by BPTT through the same dynamics (Ernoult et al.
 * 2019's baseline): T free steps, then back through the last K = nudgedSteps of them. Model,
 * solver, optimizer (per-layer rates), data order, evaluation and checkpoints are the EP
 * trainer's, so `--algorithm bptt` and `--algorithm ep` start from the same weights.
 */
export class BpttTrainer extends SourceTrainer {
  constructor(net: EnergyNetwork, config: TrainerConfig, opts: TrainerOptions) {
    super(net, config, opts, (solver) => new BpttEstimator(solver, config.freeSteps, config.nudgedSteps));
  }
}
