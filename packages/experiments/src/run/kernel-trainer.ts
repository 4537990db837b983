import { ConfigError, type Grads, type Params, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { FusedOptimizer, type KernelsMode, withKernels } from '@eqprop/kernels';
import { Optimizer, type OptimizerConfig, type OptimizerState, parameterGroups, Trainer, type TrainerConfig, type TrainerOptions } from '@eqprop/learning';
import type { Solver } from '@eqprop/solvers';

/**
 * Learning's Optimizer with its step in @eqprop/kernels (one SIMD pass per parameter). Its own
 * tfjs slots hold the moments only when a checkpoint asks for them (getState, slotTensors) or a
 * resume sets them (setState), so checkpoints are those of the tfjs path.
 */
export class FusedStepOptimizer extends Optimizer {
  private readonly fused: FusedOptimizer;

  constructor(config: OptimizerConfig, params: Params, groupOf: Record<string, number>) {
    super(config, params, groupOf);
    this.fused = new FusedOptimizer(config, params, (name, scale) => this.lrOf(name, scale));
  }

  override step(grads: Grads, lrScale = 1): void {
    this.fused.step(grads, lrScale);
  }

  /** Copies the fused moments into the tfjs slots (in the parameters' order, as Optimizer keeps them). */
  private syncSlots(): void {
    const slots = super.slotTensors() as tf.Variable[];
    let i = 0;
    for (const name of Object.keys(this.fused.slotNames())) {
      for (const m of this.fused.moments(name)) {
        const v = slots[i++];
        const t = tf.tensor(m, v.shape);
        v.assign(t);
        t.dispose();
      }
    }
  }

  override slotTensors(): tf.Tensor[] {
    this.syncSlots();
    return super.slotTensors();
  }

  override getState(): OptimizerState {
    this.syncSlots();
    return { ...super.getState(), t: this.fused.steps };
  }

  override setState(state: OptimizerState): void {
    super.setState(state); // checks it all first
    const slots = super.slotTensors();
    let i = 0;
    const moments: Record<string, Float32Array[]> = {};
    for (const name of Object.keys(this.fused.slotNames())) moments[name] = this.fused.moments(name).map(() => slots[i++].dataSync() as Float32Array);
    this.fused.restore(state.t, moments);
  }
}

/** The backends whose tensors the kernels can read synchronously. */
function onHost(): boolean {
  return ['wasm', 'cpu', 'tensorflow'].includes(tf.getBackend());
}

/**
 * The Trainer with `--kernels`: relaxations by @eqprop/kernels' fused fixed-point path where it
 * applies (FusedFixedPoint falls back to tfjs ops per batch unless `fused` is forced), and the
 * optimizer step fused on CPU backends (with `auto`, Adam's only).
 */
export class KernelTrainer extends Trainer {
  declare readonly solver: Solver;
  declare readonly optimizer: Optimizer;

  constructor(
    net: EnergyNetwork,
    config: TrainerConfig,
    opts: TrainerOptions,
    readonly kernels: KernelsMode,
  ) {
    super(net, config, opts);
    if (kernels === 'tfjs') return;
    if (!onHost()) {
      if (kernels === 'fused')
        throw new ConfigError(`--kernels fused runs on the CPU backends (wasm, cpu, tensorflow), not ${tf.getBackend()}: use --kernels auto or tfjs`);
      return;
    }
    this.solver = withKernels(this.solver, kernels);
    // auto fuses Adam only: an SGD step is two tfjs ops, and reading and writing every parameter
    // cost more than it saves (scellier2017-1h, SGD at batch 20: 20.0 s per epoch fused against
    // 15.8 s with tfjs ops, one bench run); Adam's eleven ops per parameter are what it removes
    if (kernels === 'auto' && config.optimizer.kind !== 'adam') return;
    const tfjsOptimizer = this.optimizer;
    this.optimizer = new FusedStepOptimizer(config.optimizer, net.params, parameterGroups(net));
    tfjsOptimizer.dispose();
  }
}
