import { tf, NumericalError, type Batch, type Grads, type State } from '@eqprop/core';
import type { BoundNetwork, EnergyNetwork } from '@eqprop/energies';
import type { Solver } from '@eqprop/solvers';
import { Trainer, type BatchResult, type TrainerConfig } from '@eqprop/learning';

/** Anything that turns a batch into training gradients at a free state (BPTT, RBP, CHL estimators). */
export interface GradientSource {
  readonly name: string;
  estimate(req: { bound: BoundNetwork; y: tf.Tensor; init: State }): { grads: Grads; state: State };
}

/**
 * The EP trainer with its gradient taken from another source: the model, solver, optimizer
 * (per-layer rates), persistent particles, evaluation (free phase from zero) and data order stay
 * EP's, so the algorithms of a comparison differ in the gradient only. The source is made from
 * the trainer's solver.
 */
export class SourceTrainer extends Trainer {
  readonly source: GradientSource;

  constructor(net: EnergyNetwork, config: TrainerConfig, opts: { seed: number; trainCount?: number }, makeSource: (solver: Solver) => GradientSource) {
    super(net, config, opts);
    this.source = makeSource(this.solver);
  }

  override computeGrads(batch: Batch, _beta: number, init?: State): { grads: Grads; result: BatchResult; freeState?: Float32Array[] } {
    const bound = this.net.bind(batch.x);
    const start = init ?? (this.particles ? this.particles.gather(batch.indices) : this.net.zeroState(batch.labels.length));
    try {
      const est = this.source.estimate({ bound, y: batch.y, init: start });
      try {
        const result = summarise(this.net, est.state, batch, this.config.freeSteps);
        checkFinite(this.source.name, est.grads, result.loss);
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

/** Mean cost and misclassifications at a state: one read from the backend. */
export function summarise(net: EnergyNetwork, state: State, batch: Batch, steps: number): BatchResult {
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

/** A NumericalError naming the algorithm and the parameter when a loss or gradient is NaN or Inf. */
export function checkFinite(who: string, grads: Grads, loss: number): void {
  if (!Number.isFinite(loss)) throw new NumericalError(`${who}: the cost is ${loss}`);
  const names = Object.keys(grads);
  const ok = tf.tidy(() => tf.stack(names.map((n) => tf.all(tf.isFinite(grads[n])))).dataSync());
  const i = ok.findIndex((v) => !v);
  if (i >= 0) throw new NumericalError(`${who}: non-finite gradient for parameter ${names[i]}`);
}
