import { ConfigError, DataFormatError, deserializeTensor, type Grads, type Params, type SerializedTensor, serializeTensor, tf } from '@eqprop/core';

export const OPTIMIZERS = ['sgd', 'momentum', 'adam'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** One learning rate per parameter group (layer 1 … L, then the readout), or a single rate for all. */
  lrs: number[];
  /**
   * Rates by parameter name, overriding `lrs` for those parameters. With one rate per layer, a
   * parameter in no group (EnergyNetwork.groups: say, of a term added by withTerms) must be named
   * here, or the optimizer refuses to start.
   */
  lrByParam?: Record<string, number>;
  momentum?: number;
  weightDecay?: number;
  adamBetas?: [number, number];
  adamEps?: number;
}

/** The optimizer's state as plain data: its step count and its slots (momentum, Adam's moments) by parameter. */
export interface OptimizerState {
  t: number;
  slots: Record<string, SerializedTensor[]>;
}

/**
 * SGD, heavy-ball momentum and Adam with per-layer learning rates. The group of a parameter is
 * the index of the layer it feeds (Scellier & Bengio's α1, α2, …), chosen by the caller.
 */
export class Optimizer {
  private slots: Record<string, tf.Variable[]> = {};
  private t = 0;

  constructor(
    readonly config: OptimizerConfig,
    private readonly params: Params,
    private readonly groupOf: Record<string, number>,
  ) {
    if (!OPTIMIZERS.includes(config.kind)) throw new ConfigError(`unknown optimizer "${config.kind}": expected one of ${OPTIMIZERS.join(', ')}`);
    const groups = Math.max(...Object.values(groupOf));
    if (config.lrs.length !== 1 && config.lrs.length !== groups) {
      throw new ConfigError(`got ${config.lrs.length} learning rates for ${groups} layers: give one per layer (input to output) or a single rate`);
    }
    for (const lr of config.lrs) if (!(lr >= 0) || !Number.isFinite(lr)) throw new ConfigError(`learning rates must be ≥ 0, got ${lr}`);
    for (const [name, lr] of Object.entries(config.lrByParam ?? {})) {
      if (!Object.hasOwn(params, name))
        throw new ConfigError(`lrByParam names "${name}", which is not a parameter: the parameters are ${Object.keys(params).join(', ')}`);
      if (!(lr >= 0) || !Number.isFinite(lr)) throw new ConfigError(`the learning rate of ${name} (lrByParam) must be ≥ 0, got ${lr}`);
    }
    if (config.lrs.length > 1) {
      for (const name of Object.keys(params)) {
        if (groupOf[name] === undefined && !Object.hasOwn(config.lrByParam ?? {}, name)) {
          throw new ConfigError(
            `parameter ${name} is in no learning-rate group of the ${config.lrs.length} per-layer rates: give its rate in optimizer.lrByParam ({ ${name}: … }) or a single rate for all`,
          );
        }
      }
    }
    const nSlots = config.kind === 'sgd' ? 0 : config.kind === 'momentum' ? 1 : 2;
    for (const [name, p] of Object.entries(params)) {
      this.slots[name] = Array.from({ length: nSlots }, () => {
        const zeros = tf.zerosLike(p);
        const slot = tf.variable(zeros, false);
        zeros.dispose();
        return slot;
      });
    }
  }

  lrOf(name: string, scale = 1): number {
    const { lrs, lrByParam } = this.config;
    if (lrByParam && Object.hasOwn(lrByParam, name)) return lrByParam[name] * scale;
    return (lrs.length === 1 ? lrs[0] : lrs[this.groupOf[name] - 1]) * scale;
  }

  /** θ ← θ − lr·update(g); `lrScale` multiplies every rate (learning-rate schedules). */
  step(grads: Grads, lrScale = 1): void {
    this.t++;
    const { kind, momentum = 0.9, weightDecay = 0, adamBetas = [0.9, 0.999], adamEps = 1e-8 } = this.config;
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.params)) {
        let g = grads[name];
        if (!g) continue;
        if (weightDecay) g = tf.add(g, tf.mul(p, weightDecay));
        const lr = this.lrOf(name, lrScale);
        const slots = this.slots[name];
        if (kind === 'sgd') {
          p.assign(tf.sub(p, tf.mul(g, lr)));
        } else if (kind === 'momentum') {
          slots[0].assign(tf.add(tf.mul(slots[0], momentum), g));
          p.assign(tf.sub(p, tf.mul(slots[0], lr)));
        } else {
          // m and v are stored divided by (1−β1) and (1−β2): one op fewer each on every step
          const [b1, b2] = adamBetas;
          slots[0].assign(tf.add(tf.mul(slots[0], b1), g));
          slots[1].assign(tf.add(tf.mul(slots[1], b2), tf.square(g)));
          const correction = Math.sqrt(1 - b2 ** this.t) / (1 - b1 ** this.t);
          const stepSize = (lr * correction * (1 - b1)) / Math.sqrt(1 - b2);
          const eps = adamEps / Math.sqrt(1 - b2);
          p.assign(tf.sub(p, tf.mul(tf.div(slots[0], tf.add(tf.sqrt(slots[1]), eps)), stepSize)));
        }
      }
    });
  }

  /** The optimizer's state tensors (momentum, Adam's moments), e.g. to bring them to the host before getState. */
  slotTensors(): tf.Tensor[] {
    return Object.values(this.slots).flat();
  }

  getState(): OptimizerState {
    return { t: this.t, slots: Object.fromEntries(Object.entries(this.slots).map(([k, v]) => [k, v.map(serializeTensor)])) };
  }

  /** Restores getState's output; checks all of it first (a DataFormatError leaves the optimizer as it was). */
  setState(state: OptimizerState): void {
    const slots = state?.slots;
    if (!Number.isSafeInteger(state?.t) || state.t < 0 || typeof slots !== 'object' || slots === null) {
      throw new DataFormatError('saved optimizer state needs a step count t ≥ 0 and slots');
    }
    const values: tf.Tensor[] = [];
    try {
      for (const [name, vars] of Object.entries(this.slots)) {
        const saved = Object.hasOwn(slots, name) ? slots[name] : undefined;
        if (!Array.isArray(saved) || saved.length !== vars.length) {
          throw new DataFormatError(`saved optimizer state of "${name}" needs ${vars.length} slot(s) for ${this.config.kind}`);
        }
        vars.forEach((v, i) => {
          const shape = saved[i]?.shape;
          if (!Array.isArray(shape) || shape.length !== v.rank || shape.some((d, j) => d !== v.shape[j]) || saved[i].dtype !== 'float32') {
            throw new DataFormatError(`saved optimizer slot ${i} of "${name}" is not float32 of shape [${v.shape}]`);
          }
          values.push(deserializeTensor(saved[i]));
        });
      }
    } catch (e) {
      values.forEach((t) => t.dispose());
      throw e;
    }
    this.t = state.t;
    Object.values(this.slots)
      .flat()
      .forEach((v, i) => {
        v.assign(values[i]);
        values[i].dispose();
      });
  }

  dispose(): void {
    for (const vars of Object.values(this.slots)) for (const v of vars) v.dispose();
  }
}
