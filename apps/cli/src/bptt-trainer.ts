import { tf, NumericalError, type Batch, type Grads, type State } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { Trainer, type BatchResult, type TrainerConfig } from '@eqprop/learning';
import { BpttEstimator } from '@eqprop/baselines';

/**
 * The EP trainer with its gradient replaced by BPTT through the same dynamics (Ernoult et al.
 * 2019's baseline): T free steps, then back through the last K = nudgedSteps of them. Model,
 * solver, optimizer (per-layer rates), data order, evaluation and checkpoints are the EP
 * trainer's, so `--algorithm bptt` and `--algorithm ep` start from the same weights.
 */
export class BpttTrainer extends Trainer {
  readonly bptt: BpttEstimator;

  constructor(net: EnergyNetwork, config: TrainerConfig, opts: { seed: number; trainCount?: number }) {
    super(net, config, opts);
    this.bptt = new BpttEstimator(this.solver, config.freeSteps, config.nudgedSteps);
  }

  override trainBatch(batch: Batch, lrScale = 1): BatchResult {
    const bound = this.net.bind(batch.x);
    const init = this.particles ? this.particles.gather(batch.indices) : this.net.zeroState(batch.labels.length);
    let est: { grads: Grads; state: State } | undefined;
    try {
      est = this.bptt.estimate({ bound, y: batch.y, init });
      const result = summarise(this.net, est.state, batch, this.config.freeSteps);
      checkFinite(est.grads, result.loss);
      if (this.particles) this.particles.scatter(batch.indices, est.state);
      this.optimizer.step(est.grads, lrScale);
      return result;
    } finally {
      if (est) [...est.state, ...Object.values(est.grads)].forEach((t) => t.dispose());
      init.forEach((t) => t.dispose());
      bound.dispose();
    }
  }
}

/** Loss and misclassifications at s_T: one read from the backend. */
function summarise(net: EnergyNetwork, state: State, batch: Batch, steps: number): BatchResult {
  const packed = tf.tidy(() => {
    const out = net.activity(net.depth, state[state.length - 1]);
    const pred = tf.cast(tf.argMax(net.cost.scores(out), 1), 'float32');
    return tf.concat([tf.reshape(tf.mean(net.cost.cost(out, batch.y)), [1]), pred]);
  });
  const values = packed.dataSync();
  packed.dispose();
  let errors = 0;
  for (let i = 0; i < batch.labels.length; i++) if (values[i + 1] !== batch.labels[i]) errors++;
  return { loss: values[0], errors, size: batch.labels.length, freeSteps: steps, residual: Number.NaN };
}

function checkFinite(grads: Grads, loss: number): void {
  if (!Number.isFinite(loss)) throw new NumericalError(`the cost at s_T is ${loss}`);
  const names = Object.keys(grads);
  const ok = tf.tidy(() => tf.stack(names.map((n) => tf.all(tf.isFinite(grads[n])))).dataSync());
  const i = ok.findIndex((v) => !v);
  if (i >= 0) throw new NumericalError(`non-finite BPTT gradient for parameter ${names[i]}`);
}
