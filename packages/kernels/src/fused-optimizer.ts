import { ConfigError, type Grads, type Params, type tf } from '@eqprop/core';
import { readInto, tensorFrom } from './host-tensors.js';
import { KernelTeam } from './kernel-team.js';
import { Program } from './program.js';

/** The optimizer settings of @eqprop/learning's OptimizerConfig (structurally the same). */
export interface FusedOptimizerConfig {
  kind: 'sgd' | 'momentum' | 'adam';
  lrs: number[];
  momentum?: number;
  weightDecay?: number;
  adamBetas?: [number, number];
  adamEps?: number;
}

/** A parameter's arrays in the team's kernel memory (byte offsets). */
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
 * pass of its own (Adam over the 406k parameters of laborieux2021-mlp took 3 ms a batch). Each
 * thread of the team updates its range of every parameter. The parameters stay tf.Variables: a
 * copy of each lives in kernel memory, read again only when the variable was assigned by someone
 * else since this optimizer last wrote it; the moments live in kernel memory only. Same arithmetic
 * in the same order, in float32.
 */
export class FusedOptimizer {
  private readonly slots: Record<string, Slot> = {};
  /** The data each variable held when this optimizer last wrote or read it. */
  private readonly known = new Map<string, object>();
  private t = 0;
  private disposed = false;

  /**
   * @param lrOf a parameter's learning rate times a schedule's scale (Optimizer.lrOf: per-layer
   *   groups and per-parameter rates are the caller's to resolve)
   */
  constructor(
    readonly config: FusedOptimizerConfig,
    private readonly params: Params,
    private readonly lrOf: (name: string, scale: number) => number,
    readonly team: KernelTeam = KernelTeam.single(),
  ) {
    if (!['sgd', 'momentum', 'adam'].includes(config.kind)) throw new ConfigError(`unknown optimizer "${config.kind}": expected one of sgd, momentum, adam`);
    const nMoments = config.kind === 'sgd' ? 0 : config.kind === 'momentum' ? 1 : 2;
    const K = team.K;
    for (const [name, p] of Object.entries(params)) {
      const size = p.size;
      this.slots[name] = { size, p: K.alloc(size), g: K.alloc(size), moments: Array.from({ length: nMoments }, () => K.alloc(size)) };
    }
  }

  /** Adam's step count (bias correction). */
  get steps(): number {
    return this.t;
  }

  /** θ ← θ − lr·update(g), as Optimizer.step. */
  step(grads: Grads, lrScale = 1): void {
    const names = Object.keys(this.params).filter((name) => grads[name]);
    for (const name of names) readInto(grads[name], this.team.K.view(this.slots[name].g, this.slots[name].size));
    this.stepSlots(lrScale, names);
  }

  /**
   * Makes the kernel copy of every parameter its variable's value (a read only where the variable
   * was assigned since this optimizer last wrote or read it: a checkpoint restored, a test's assign).
   */
  syncParams(): void {
    for (const [name, param] of Object.entries(this.params)) {
      if (this.known.get(name) === param.dataId) continue;
      readInto(param, this.team.K.view(this.slots[name].p, this.slots[name].size));
      this.known.set(name, param.dataId);
    }
  }

  /** A parameter's copy and its gradient's slot in kernel memory (byte offsets): where FusedEpStep reads and writes. */
  slot(name: string): { p: number; g: number; size: number } {
    const s = this.slots[name];
    return { p: s.p, g: s.g, size: s.size };
  }

  /**
   * The update from the gradients already in the g slots of `names` (the caller wrote them), on
   * every thread of the team (each a range of every parameter); the variables are then assigned.
   */
  stepSlots(lrScale = 1, names: string[] = Object.keys(this.params)): void {
    if (this.disposed) throw new Error('FusedOptimizer: used after dispose');
    this.team.wake();
    this.syncParams();
    this.t++;
    const { kind, momentum = 0.9, weightDecay = 0, adamBetas = [0.9, 0.999], adamEps = 1e-8 } = this.config;
    const [b1, b2] = adamBetas;
    const programs = Array.from({ length: this.team.threads }, () => new Program());
    for (const name of names) {
      const s = this.slots[name];
      const lr = this.lrOf(name, lrScale);
      const correction = Math.sqrt(1 - b2 ** this.t) / (1 - b1 ** this.t);
      const stepSize = (lr * correction * (1 - b1)) / Math.sqrt(1 - b2);
      this.team.split(s.size).forEach(([lo, hi], t) => {
        const p = programs[t];
        const [pp, g, len] = [s.p + 4 * lo, s.g + 4 * lo, hi - lo];
        const m = s.moments.map((ptr) => ptr + 4 * lo);
        if (weightDecay) p.axpy(g, pp, len, weightDecay);
        if (kind === 'sgd') p.axpy(pp, g, len, -lr);
        else if (kind === 'momentum') p.momentum(pp, g, m[0], len, momentum, lr);
        else p.adam(pp, g, m[0], m[1], len, b1, b2, stepSize, adamEps / Math.sqrt(1 - b2));
      });
    }
    this.team.run(programs);
    for (const name of names) this.writeBack(name);
  }

  /** Assigns a parameter's kernel copy to its variable (a new tensor: an in-place write would leave XNNPACK's packed copy of the weight stale). */
  private writeBack(name: string): void {
    const param = this.params[name] as tf.Variable;
    const s = this.slots[name];
    const updated = tensorFrom(this.team.K.view(s.p, s.size), param.shape);
    param.assign(updated);
    updated.dispose();
    this.known.set(name, param.dataId);
  }

  /** The parameters it updates, in the order of `params` (Optimizer's order of slots): name → size. */
  slotNames(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.slots).map(([k, s]) => [k, s.size]));
  }

  /** The moments of a parameter (copies; Adam's m and v as stored, divided by 1 − β1 and 1 − β2): Optimizer's slots. */
  moments(name: string): Float32Array[] {
    const s = this.slots[name];
    return s.moments.map((m) => this.team.K.view(m, s.size).slice());
  }

  /** Sets the step count and every parameter's moments (a checkpoint's, checked by the caller). */
  restore(t: number, moments: Record<string, ArrayLike<number>[]>): void {
    for (const [name, s] of Object.entries(this.slots)) s.moments.forEach((m, i) => this.team.K.view(m, s.size).set(moments[name][i]));
    this.t = t;
  }

  /** Frees its kernel memory (the team is its owner's to dispose). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of Object.values(this.slots)) for (const p of [s.p, s.g, ...s.moments]) this.team.K.free(p);
  }
}
