import { ConfigError, type Grads, type Params } from '@eqprop/core';
import { readInto, tensorFrom } from './host-tensors.js';
import { WasmKernels } from './wasm-kernels.js';

/** The optimizer settings of @eqprop/learning's OptimizerConfig (structurally the same). */
export interface FusedOptimizerConfig {
  kind: 'sgd' | 'momentum' | 'adam';
  lrs: number[];
  momentum?: number;
  weightDecay?: number;
  adamBetas?: [number, number];
  adamEps?: number;
}

/** A parameter's arrays in the optimizer's kernel memory (byte offsets). */
interface Slot {
  size: number;
  p: number;
  g: number;
  /** Momentum's velocity, or Adam's m and v (stored divided by 1 − β1 and 1 − β2). */
  moments: number[];
}

/**
 * The update of @eqprop/learning's Optimizer (SGD, heavy-ball momentum, Adam; weight decay,
 * per-layer rates) as one SIMD pass per parameter, in place of 8–11 tfjs ops over it, each a
 * pass of its own (Adam over the 406k parameters of laborieux2021-mlp took 3 ms a batch). The
 * moments live in this optimizer's own kernel memory; the parameters stay tf.Variables, read and
 * assigned once per step. Same arithmetic in the same order, in float32.
 */
export class FusedOptimizer {
  private readonly K = WasmKernels.create();
  private readonly slots: Record<string, Slot> = {};
  private t = 0;

  /**
   * @param lrOf a parameter's learning rate times a schedule's scale (Optimizer.lrOf: per-layer
   *   groups and per-parameter rates are the caller's to resolve)
   */
  constructor(
    readonly config: FusedOptimizerConfig,
    private readonly params: Params,
    private readonly lrOf: (name: string, scale: number) => number,
  ) {
    if (!['sgd', 'momentum', 'adam'].includes(config.kind)) throw new ConfigError(`unknown optimizer "${config.kind}": expected one of sgd, momentum, adam`);
    const nMoments = config.kind === 'sgd' ? 0 : config.kind === 'momentum' ? 1 : 2;
    for (const [name, p] of Object.entries(params)) {
      const size = p.size;
      this.slots[name] = { size, p: this.K.alloc(size), g: this.K.alloc(size), moments: Array.from({ length: nMoments }, () => this.K.alloc(size)) };
    }
  }

  /** Adam's step count (bias correction). */
  get steps(): number {
    return this.t;
  }

  /** θ ← θ − lr·update(g), as Optimizer.step. */
  step(grads: Grads, lrScale = 1): void {
    this.t++;
    const { kind, momentum = 0.9, weightDecay = 0, adamBetas = [0.9, 0.999], adamEps = 1e-8 } = this.config;
    const K = this.K;
    for (const [name, param] of Object.entries(this.params)) {
      const grad = grads[name];
      if (!grad) continue;
      const s = this.slots[name];
      const n = Math.ceil(s.size / 4) * 4; // the padding lanes hold zeros and stay finite
      readInto(param, K.view(s.p, s.size));
      readInto(grad, K.view(s.g, s.size));
      if (weightDecay) K.fn.axpy(s.g, s.p, n, weightDecay);
      const lr = this.lrOf(name, lrScale);
      if (kind === 'sgd') K.fn.axpy(s.p, s.g, n, -lr);
      else if (kind === 'momentum') K.fn.momentum(s.p, s.g, s.moments[0], n, momentum, lr);
      else {
        const [b1, b2] = adamBetas;
        const correction = Math.sqrt(1 - b2 ** this.t) / (1 - b1 ** this.t);
        const stepSize = (lr * correction * (1 - b1)) / Math.sqrt(1 - b2);
        K.fn.adam(s.p, s.g, s.moments[0], s.moments[1], n, b1, b2, stepSize, adamEps / Math.sqrt(1 - b2));
      }
      // a new tensor (an in-place write would leave XNNPACK's packed copy of the weight stale)
      const updated = tensorFrom(K.view(s.p, s.size), param.shape);
      param.assign(updated);
      updated.dispose();
    }
  }

  /** The parameters it updates, in the order of `params` (Optimizer's order of slots): name → size. */
  slotNames(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.slots).map(([k, s]) => [k, s.size]));
  }

  /** The moments of a parameter (copies; Adam's m and v as stored, divided by 1 − β1 and 1 − β2): Optimizer's slots. */
  moments(name: string): Float32Array[] {
    const s = this.slots[name];
    return s.moments.map((m) => this.K.view(m, s.size).slice());
  }

  /** Sets the step count and every parameter's moments (a checkpoint's, checked by the caller). */
  restore(t: number, moments: Record<string, ArrayLike<number>[]>): void {
    for (const [name, s] of Object.entries(this.slots)) s.moments.forEach((m, i) => this.K.view(m, s.size).set(moments[name][i]));
    this.t = t;
  }
}
