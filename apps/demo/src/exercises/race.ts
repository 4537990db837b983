import { BackpropTwin } from '@eqprop/baselines';
import { type Batch, ConfigError, type Reads, Rng, readOnce, tf } from '@eqprop/core';
import { Bias, DenseCoupling, type EnergyNetwork } from '@eqprop/energies';
import { Optimizer, parameterGroups, Trainer, type TrainerConfig } from '@eqprop/learning';
import { layeredMlp } from '@eqprop/models';
import type { Preset } from '../presets.js';

/** Error and mean cost on the race's test digits after `examples` training examples. */
export interface RacePoint {
  examples: number;
  error: number;
  loss: number;
}

/** One training batch of both learners: errors and mean cost on the batch, before the update. */
export interface RaceStep {
  ep: { errors: number; loss: number };
  bp: { errors: number; loss: number };
  size: number;
}

/**
 * EP against backprop from the same initial weights, on the same batches. The EP network is the
 * preset's; backprop trains its feed-forward twin (@eqprop/baselines: same layer sizes, the EP
 * network's weights copied when the race is made, the same activation and cost), with the same
 * optimizer class, per-layer rates and parameter groups (@eqprop/learning's Optimizer).
 *
 * Both start from the same error: the two compute different things from the same weights (EP
 * settles with the output feeding back into the hidden layer, backprop's twin makes one
 * feed-forward pass), so from the preset's initialisation their first errors differ. The weights
 * into the output layer start at zero: then nothing feeds back, the free equilibrium *is* the
 * feed-forward pass (`startGap` measures it), and the race starts from one shared network state.
 * Both learners see the same zero start (neither gets a gradient into the hidden layer on its first
 * batch), so the start favours neither.
 *
 * Every method is a Reads program (synchronous reads on wasm, asynchronous on WebGPU).
 */
export class Race {
  readonly net: EnergyNetwork;
  readonly trainer: Trainer;
  readonly twin: BackpropTwin;
  readonly twinOptimizer: Optimizer;
  readonly config: TrainerConfig;
  /** Milliseconds spent in each learner's training steps (wall clock, this tab). */
  readonly ms = { ep: 0, bp: 0 };

  constructor(
    readonly preset: Preset,
    seed: number,
  ) {
    this.net = layeredMlp(preset.model, new Rng(seed));
    zeroOutputWeights(this.net);
    const s = preset.defaults;
    this.config = {
      solver: preset.solver,
      freeSteps: s.freeSteps,
      nudgedSteps: s.nudgedSteps,
      estimator: s.estimator,
      beta: s.beta,
      optimizer: { kind: preset.optimizer, lrs: s.lrs },
      persistent: false,
    };
    this.trainer = new Trainer(this.net, this.config, { seed: seed + 2 });
    this.twin = new BackpropTwin(this.net); // copies the EP network's weights now: one start for both
    this.twinOptimizer = new Optimizer(this.config.optimizer, this.twin.params, parameterGroups(this.net));
  }

  /** One batch for each learner, the same batch. The caller disposes the batch. */
  *stepReads(batch: Batch): Reads<RaceStep> {
    let t0 = performance.now();
    const ep = yield* this.trainer.trainBatchReads(batch);
    this.ms.ep += performance.now() - t0;
    t0 = performance.now();
    const bp = yield* this.twinStepReads(batch);
    this.ms.bp += performance.now() - t0;
    return { ep: { errors: ep.errors, loss: ep.loss }, bp, size: batch.labels.length };
  }

  /** Backprop on the twin: autodiff of the mean cost, then the optimizer; one read (cost and predictions). */
  private *twinStepReads(batch: Batch): Reads<{ errors: number; loss: number }> {
    const names = Object.keys(this.twin.params);
    const vars = names.map((n) => this.twin.params[n]);
    let out: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      out = tf.keep(this.twin.forward(batch.x)); // kept for the predictions: one forward pass
      return tf.mean(this.twin.cost.cost(out, batch.y)) as tf.Scalar;
    }, vars);
    const summary = tf.tidy(() => tf.concat([tf.reshape(value, [1]), tf.cast(tf.argMax(this.twin.cost.scores(out!), 1), 'float32')]));
    this.twinOptimizer.step(Object.fromEntries(names.map((n, i) => [n, grads[vars[i].name]])));
    [value, out!, ...Object.values(grads)].forEach((t) => t.dispose());
    const read = yield* readOnce(summary);
    return { loss: read[0], errors: countErrors(read.subarray(1), batch.labels) };
  }

  /** Both learners' error and mean cost on `make()`'s batches (made twice: evaluation consumes them). */
  *evaluateReads(make: () => Iterable<Batch>, examples: number): Reads<{ ep: RacePoint; bp: RacePoint }> {
    const ep = yield* this.trainer.evaluateReads(make());
    let [errors, loss, count] = [0, 0, 0];
    for (const batch of make()) {
      const summary = tf.tidy(() => {
        const out = this.twin.forward(batch.x);
        const cost = tf.sum(this.twin.cost.cost(out, batch.y));
        return tf.concat([tf.reshape(cost, [1]), tf.cast(tf.argMax(this.twin.cost.scores(out), 1), 'float32')]);
      });
      batch.x.dispose();
      batch.y.dispose();
      const read = yield* readOnce(summary);
      loss += read[0];
      errors += countErrors(read.subarray(1), batch.labels);
      count += batch.labels.length;
    }
    return { ep: { examples, error: ep.error, loss: ep.loss }, bp: { examples, error: errors / count, loss: loss / count } };
  }

  /**
   * The largest difference, over every unit of every layer and example of `x`, between EP's free
   * equilibrium (the evaluation's free phase from zero) and the twin's feed-forward pass: 0 up to
   * rounding when both start from the same network state.
   */
  *startGapReads(x: tf.Tensor): Reads<number> {
    const state = yield* this.trainer.relaxFreeReads(x);
    const gap = tf.tidy(() => {
      const ep = this.net.activities(state);
      const bp = this.feedForward(x);
      return tf.max(tf.stack(ep.map((a, k) => tf.max(tf.abs(tf.sub(a, bp[k]))))));
    });
    state.forEach((t) => t.dispose());
    return (yield* readOnce(gap))[0];
  }

  /** Every layer of the twin's feed-forward pass, from its own parameters (call inside tidy). */
  private feedForward(x: tf.Tensor): tf.Tensor[] {
    const out: tf.Tensor[] = [];
    let a = x;
    for (let k = 1; k <= this.net.depth; k++) {
      const coupling = couplingInto(this.net, k);
      const biasTerm = this.net.terms.find((t): t is Bias => t instanceof Bias && t.layer === k);
      const bias = biasTerm && this.twin.params[biasTerm.name];
      const h = tf.matMul(a, this.twin.params[coupling.name]);
      a = this.net.activations[k - 1].apply(bias ? tf.add(h, bias) : h);
      out.push(a);
    }
    return out;
  }

  dispose(): void {
    this.trainer.dispose();
    this.twinOptimizer.dispose();
    this.twin.dispose();
    for (const v of Object.values(this.net.params)) v.dispose();
  }
}

function couplingInto(net: EnergyNetwork, k: number): DenseCoupling {
  const c = net.terms.find((t): t is DenseCoupling => t instanceof DenseCoupling && t.upper === k);
  if (!c) throw new ConfigError(`the race needs a layered network: layer ${k} has no dense coupling into it`);
  return c;
}

/** W_{L−1,L} ← 0: the output feeds nothing back at the start (see Race). */
function zeroOutputWeights(net: EnergyNetwork): void {
  const w = couplingInto(net, net.depth).weight;
  tf.tidy(() => w.assign(tf.zerosLike(w)));
}

function countErrors(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] !== labels[i]) n++;
  return n;
}
