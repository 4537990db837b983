import { BackpropTwin } from '@eqprop/baselines';
import { type Batch, type Grads, NumericalError, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { type BatchResult, type EvalResult, EvalTotal, Optimizer, type OptimizerConfig, parameterGroups } from '@eqprop/learning';

/**
 * Trains the backprop twin of an EP network (same layer sizes, same initial weights) with
 * learning's Optimizer: the same optimizer class, per-layer learning rates and parameter groups.
 */
export class TwinTrainer {
  readonly twin: BackpropTwin;
  readonly optimizer: Optimizer;

  constructor(net: EnergyNetwork, optimizer: OptimizerConfig) {
    this.twin = new BackpropTwin(net);
    this.optimizer = new Optimizer(optimizer, this.twin.params, parameterGroups(net));
  }

  trainBatch(batch: Batch, lrScale = 1): BatchResult {
    const { grads, loss, out } = this.twin.gradients(batch.x, batch.y);
    try {
      checkFinite('backprop', grads, loss);
      this.optimizer.step(grads, lrScale);
      return { loss, errors: this.errors(out, batch), size: batch.labels.length, freeSteps: 0, freeStepsPerExample: 0, residual: Number.NaN };
    } finally {
      [...Object.values(grads), out].forEach((t) => t.dispose());
    }
  }

  /** Error and mean loss over batches (their tensors are disposed, as Trainer.evaluate does). */
  evaluate(batches: Iterable<Batch>): EvalResult {
    const total = new EvalTotal();
    for (const batch of batches) {
      const out = this.twin.forward(batch.x);
      const size = batch.labels.length;
      total.add({ errors: this.errors(out, batch), loss: tf.tidy(() => tf.mean(this.twin.cost.cost(out, batch.y)).dataSync()[0]), size });
      [out, batch.x, batch.y].forEach((t) => t.dispose());
    }
    return total.result();
  }

  dispose(): void {
    this.optimizer.dispose();
    this.twin.dispose();
  }

  private errors(out: tf.Tensor, batch: Batch): number {
    const pred = tf.tidy(() => tf.argMax(this.twin.cost.scores(out), 1).dataSync());
    let n = 0;
    for (let i = 0; i < batch.labels.length; i++) if (pred[i] !== batch.labels[i]) n++;
    return n;
  }
}

/** A NumericalError naming the algorithm and the parameter when a loss or gradient is NaN or Inf. */
export function checkFinite(who: string, grads: Grads, loss: number): void {
  if (!Number.isFinite(loss)) throw new NumericalError(`${who}: the cost is ${loss}`);
  const names = Object.keys(grads);
  const ok = tf.tidy(() => tf.stack(names.map((n) => tf.all(tf.isFinite(grads[n])))).dataSync());
  const i = ok.findIndex((v) => !v);
  if (i >= 0) throw new NumericalError(`${who}: non-finite gradient for parameter ${names[i]}`);
}
