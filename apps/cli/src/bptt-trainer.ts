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

  /** T free steps and the backward pass over the last K: the mean BPTT gradient of the batch (β unused). */
  override computeGrads(batch: Batch, _beta: number, init?: State): { grads: Grads; result: BatchResult; freeState?: Float32Array[] } {
    const bound = this.net.bind(batch.x);
    const start = init ?? (this.particles ? this.particles.gather(batch.indices) : this.net.zeroState(batch.labels.length));
    try {
      const est = this.bptt.estimate({ bound, y: batch.y, init: start });
      try {
        const result = summarise(this.net, est.state, batch, this.config.freeSteps);
        checkFinite(est.grads, result.loss);
        let freeState: Float32Array[] | undefined;
        if (init) freeState = est.state.map((t) => t.dataSync() as Float32Array);
        else if (this.particles) this.particles.scatter(batch.indices, est.state);
        return { grads: est.grads, result, freeState };
      } catch (e) {
        Object.values(est.grads).forEach((t) => t.dispose());
        throw e;
      } finally {
        est.state.forEach((t) => t.dispose());
      }
    } finally {
      if (!init) start.forEach((t) => t.dispose());
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
