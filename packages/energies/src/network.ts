import { ConfigError, type Grads, type Params, ShapeError, type State, takeRows, tf } from '@eqprop/core';
import type { Activation } from './activations.js';
import type { Cost } from './costs.js';
import { checkDropout, type DropoutMasks } from './dropout.js';
import { SelfTerm } from './self-term.js';
import { type FieldTerm, hasEnergy, type Term, TermCache } from './term.js';
import { probeTermShapes } from './term-shapes.js';

/**
 * `hopfield`: E = Σ ½‖s_k‖² + Σ terms(ρ(s)), relaxed by gradient descent (Scellier & Bengio).
 * `primitive`: states are activities, E = Σ G(s_k) − Φ(s), relaxed by s = σ(∂Φ/∂s) (Ernoult et al.).
 */
export type NetworkForm = 'hopfield' | 'primitive';

export interface EnergyNetworkSpec {
  /** Per-example shape of the clamped input (layer 0). */
  inputShape: number[];
  /** Per-example shape of each free layer 1..L. */
  layerShapes: number[][];
  /** One activation per free layer. */
  activations: Activation[];
  /** Energy terms, or vector-field terms (fields and updates, no energy): then the network has no energy. */
  terms: FieldTerm[];
  cost: Cost;
  form: NetworkForm;
  /**
   * The learning-rate group of each parameter (the trainer's per-layer rates): 1 … L, the free
   * layer it feeds, or L + 1 for the cost's. Default: every parameter gets the highest layer its
   * term touches, L + 1 for the cost's. A parameter left out has no group (withTerms keeps a
   * model's groups, so the parameters of added terms have none until the trainer is told).
   */
  groups?: Record<string, number>;
  /**
   * Drop probability of each layer, the input first ([p_0, p_1 … p_L]): dropout inside the energy
   * (dropout.ts), masks drawn per training batch and bound with `bind(x, masks)`. Default none.
   */
  dropout?: readonly number[];
}

/** Nudging: F = E + β·C(s_L, y). */
export interface Nudge {
  beta: number;
  y: tf.Tensor;
}

/**
 * A network as solvers, estimators and baselines see it: layer shapes, activations, terms and a
 * cost. Architectures build one from terms; nothing here knows a concrete model. Solvers and
 * estimators use only the terms' fields and updates (FieldTerm); the energy (and whatever needs
 * it: energy traces, gradient descent, the backward passes of BPTT and recurrent backprop) exists
 * only when every term is an energy term (`hasEnergy`), and is otherwise a one-line ConfigError.
 */
export class EnergyNetwork {
  readonly inputShape: number[];
  readonly layerShapes: number[][];
  readonly activations: Activation[];
  readonly terms: FieldTerm[];
  readonly cost: Cost;
  readonly form: NetworkForm;
  readonly selfTerm: SelfTerm;
  readonly params: Params;
  /** Learning-rate group of each parameter (EnergyNetworkSpec.groups): a parameter not listed has none. */
  readonly groups: Readonly<Record<string, number>>;
  /** Number of free layers L. */
  readonly depth: number;
  /** True when every term has an energy, so the network has E; false for a vector-field network. */
  readonly hasEnergy: boolean;
  /** Drop probability of each layer, the input first (EnergyNetworkSpec.dropout); undefined without, or with every rate 0. */
  readonly dropout?: readonly number[];
  private readonly termsOf: FieldTerm[][];

  constructor(spec: EnergyNetworkSpec) {
    this.inputShape = spec.inputShape;
    this.layerShapes = spec.layerShapes;
    this.activations = spec.activations;
    this.terms = spec.terms;
    this.cost = spec.cost;
    this.form = spec.form;
    this.depth = spec.layerShapes.length;
    if (this.depth < 1) throw new ShapeError('a network needs at least one free layer');
    if (spec.activations.length !== this.depth) {
      throw new ShapeError(`got ${spec.activations.length} activations for ${this.depth} free layers`);
    }
    this.selfTerm = new SelfTerm(spec.form === 'hopfield' ? 'quadratic' : 'legendre');
    this.termsOf = Array.from({ length: this.depth + 1 }, () => []);
    const params: Params = {};
    const shapes = [spec.inputShape, ...spec.layerShapes];
    for (const term of spec.terms) {
      for (const k of term.layers) {
        if (!Number.isInteger(k) || k < 0 || k > this.depth) {
          throw new ShapeError(`term ${term.name} touches layer ${k}, but layers are 0 (input) … ${this.depth}`);
        }
        this.termsOf[k].push(term);
      }
      // once, when the network is built: a term that does not fit fails here, not as a tfjs error
      // (or a silently broadcast field) in the first relaxation
      const misfit = term.shapeMismatch ? term.shapeMismatch(shapes) : probeTermShapes(term, shapes);
      if (misfit) throw new ShapeError(`term ${term.name}: ${misfit}`);
      for (const [name, v] of Object.entries(term.params)) {
        if (params[name]) throw new ConfigError(`two terms own a parameter named "${name}"`);
        params[name] = v;
      }
    }
    Object.assign(params, spec.cost.params);
    this.params = params;
    this.groups = spec.groups ? checkGroups(spec.groups, params, this.depth) : defaultGroups(spec.terms, spec.cost, this.depth);
    this.hasEnergy = spec.terms.every(hasEnergy);
    this.dropout = checkDropout(spec.dropout, shapes, spec.cost);
  }

  /**
   * Throws a one-line ConfigError when the network has no energy, naming `what` needed it and the
   * first term without one (a vector field): a wrong number would be worse.
   */
  requireEnergy(what: string): void {
    if (this.hasEnergy) return;
    const t = this.terms.find((x) => !hasEnergy(x))!;
    throw new ConfigError(
      `${what}: this network has no energy (term ${t.name} is a vector field: fields and updates, no energy); relax it with the fixed-point solver and train it with an EP estimator`,
    );
  }

  /** The terms as energy terms (requireEnergy first). */
  energyTerms(what: string): Term[] {
    this.requireEnergy(what);
    return this.terms as Term[];
  }

  /** Activities ρ(s) of the free layers (primitive form: the states themselves). */
  activities(states: State): tf.Tensor[] {
    return states.map((s, i) => this.activity(i + 1, s));
  }

  /** Activity of free layer k (1-based). Returns `s` itself when no op is needed (do not dispose twice). */
  activity(k: number, s: tf.Tensor): tf.Tensor {
    const act = this.activations[k - 1];
    if (this.form === 'primitive' || act.identityOnRange) return s;
    return act.apply(s);
  }

  /** Zero states for a batch. */
  zeroState(batch: number): State {
    return this.layerShapes.map((shape) => tf.zeros([batch, ...shape]));
  }

  /**
   * Starts a batch: caches everything that stays fixed while it relaxes. Dispose when done. With
   * `masks` (drawDropoutMasks, once per training batch) every phase and update of the batch sees the
   * masked energy; the bound network owns them.
   */
  bind(x: tf.Tensor, masks?: DropoutMasks): BoundNetwork {
    const expected = this.inputShape.reduce((a, b) => a * b, 1);
    const got = x.shape.slice(1).reduce((a, b) => a * b, 1);
    if (got !== expected) {
      throw new ShapeError(`input has per-example shape [${x.shape.slice(1)}], expected [${this.inputShape}]`);
    }
    const reshaped = x.shape.length !== this.inputShape.length + 1;
    const masked = masks ? masks.maskInput(x) : x;
    const input = reshaped ? masked.reshape([x.shape[0], ...this.inputShape]) : masked;
    if (reshaped && masked !== x) masked.dispose();
    return new BoundNetwork(this, input, this.termsOf, input !== x, undefined, undefined, masks);
  }

  /** E per example (no nudging). */
  energy(x: tf.Tensor, states: State): tf.Tensor {
    const bound = this.bind(x);
    try {
      return bound.energy(states);
    } finally {
      bound.dispose();
    }
  }
}

/** Every parameter's group: the highest layer its term touches, L + 1 for the cost's. */
function defaultGroups(terms: readonly FieldTerm[], cost: Cost, depth: number): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const term of terms) for (const name of Object.keys(term.params)) groups[name] = Math.max(...term.layers);
  for (const name of Object.keys(cost.params)) groups[name] = depth + 1;
  return groups;
}

function checkGroups(groups: Record<string, number>, params: Params, depth: number): Record<string, number> {
  for (const [name, g] of Object.entries(groups)) {
    if (!Object.hasOwn(params, name)) throw new ConfigError(`groups names "${name}", which is not a parameter of the network`);
    if (!Number.isInteger(g) || g < 1 || g > depth + 1) throw new ConfigError(`group of ${name} must be an integer in 1 … ${depth + 1}, got ${g}`);
  }
  return { ...groups };
}

/** A network bound to one batch's input: static fields and transposed weights are computed once. */
export class BoundNetwork {
  readonly cache: TermCache;
  private readonly staticFields: (tf.Tensor | null)[];

  constructor(
    readonly net: EnergyNetwork,
    readonly x: tf.Tensor,
    private readonly termsOf: FieldTerm[][],
    private readonly ownsInput = false,
    staticFields?: (tf.Tensor | null)[],
    parentCache?: TermCache,
    /** This batch's dropout masks (disposed with it); `x` is already masked. */
    readonly masks?: DropoutMasks,
  ) {
    this.cache = new TermCache(parentCache);
    // Σ of every field that depends only on θ and x (input projection, biases): once per batch
    const inputOnly: tf.Tensor[] = [x];
    this.staticFields =
      staticFields ??
      termsOf.map((terms, k) => {
        if (k === 0) return null;
        const parts = terms.filter((t) => t.isStaticFor(k));
        if (parts.length === 0) return null;
        return tf.tidy(() => parts.map((t) => t.field(inputOnly, k, this.cache)).reduce((a, b) => tf.add(a, b)));
      });
  }

  get batchSize(): number {
    return this.x.shape[0];
  }

  /**
   * The same network bound to some of this batch's examples (`rows`, in that order): input and
   * static fields are gathered, not recomputed; the parameter-derived tensors of the cache
   * (TermCache.shared) are this one's. Dispose both, the subset first.
   */
  subset(rows: readonly number[]): BoundNetwork {
    const x = takeRows(this.x, rows);
    const fields = this.staticFields.map((f) => (f ? takeRows(f, rows) : null));
    return new BoundNetwork(this.net, x, this.termsOf, true, fields, this.cache, this.masks?.subset(rows));
  }

  /** `[x, a_1 … a_L]`: the activity array terms expect. */
  allActs(acts: readonly tf.Tensor[]): tf.Tensor[] {
    return [this.x, ...acts];
  }

  /**
   * Total field −∂E/∂a_k on free layer k (1-based) given all activities `all` = [x, a_1 … a_L];
   * with a nudge, the output layer also gets −β ∂C/∂a_L.
   */
  field(all: readonly tf.Tensor[], k: number, nudge?: Nudge): tf.Tensor {
    return this.affineField(all, k, nudge, 1, 0);
  }

  /**
   * gain·(field − centre) for layer k's activation (σ(x) = base(gain·(x − centre))): the
   * argument of `activation.base`. Gain and centre are folded into the static field once per
   * batch; the moving terms' fields are multiplied by the gain (no op where it is 1).
   */
  preActivation(all: readonly tf.Tensor[], k: number, nudge?: Nudge): tf.Tensor {
    const { gain, centre } = this.net.activations[k - 1].affine;
    return this.affineField(all, k, nudge, gain, centre);
  }

  private affineField(all: readonly tf.Tensor[], k: number, nudge: Nudge | undefined, gain: number, centre: number): tf.Tensor {
    const m = this.masks;
    if (!m) return this.termsField(all, k, nudge, gain, centre);
    // dropout: terms and cost see masked activities; layer k's own gate passes the sum (dropout.ts)
    return tf.tidy(() => m.gated(k, this.termsField(m.acts(all, this.cache), k, nudge, gain, 0), gain * centre));
  }

  private termsField(all: readonly tf.Tensor[], k: number, nudge: Nudge | undefined, gain: number, centre: number): tf.Tensor {
    return tf.tidy(() => {
      let f: tf.Tensor | null = this.staticPart(k, gain, centre, all[k].shape);
      for (const t of this.termsOf[k]) {
        if (t.isStaticFor(k)) continue;
        const field = t.field(all, k, this.cache);
        const part = gain === 1 ? field : tf.mul(field, gain);
        f = f ? tf.add(f, part) : part;
      }
      if (nudge && k === this.net.depth && nudge.beta !== 0) {
        const push = tf.mul(this.net.cost.nudgeField(all[k], nudge.y, this.cache), nudge.beta * gain);
        f = f ? tf.add(f, push.reshape(f.shape)) : push;
      }
      return f ?? tf.zeros(all[k].shape);
    });
  }

  /** −β ∂C/∂a_L: the nudge as a push on the output itself (a step that adds it after the activation). */
  nudgeDrive(out: tf.Tensor, nudge: Nudge): tf.Tensor {
    const m = this.masks;
    const L = this.net.depth;
    return tf.tidy(() => {
      const push = tf.mul(this.net.cost.nudgeField(m ? m.act(L, out) : out, nudge.y, this.cache), nudge.beta).reshape(out.shape);
      return m ? m.gated(L, push, 0) : push;
    });
  }

  /** gain·(static field − centre), cached for the batch; null when it is zero. */
  private staticPart(k: number, gain: number, centre: number, shape: number[]): tf.Tensor | null {
    const base = this.staticFields[k];
    if (gain === 1 && centre === 0) return base;
    if (!base && centre === 0) return null;
    return this.cache.get(`static:${k}:${gain}:${centre}`, () => (base ? tf.mul(tf.sub(base, centre), gain) : tf.fill(shape, -gain * centre)));
  }

  /** E per example at `states` (self term + all terms); a ConfigError for a network without an energy. */
  energy(states: State): tf.Tensor {
    const terms = this.net.energyTerms('the energy E');
    return tf.tidy(() => {
      const all = this.termActs(states);
      let e = tf.zeros([this.batchSize]);
      states.forEach((s, i) => {
        const self = this.net.selfTerm.energy(s, this.net.activations[i]);
        e = tf.add(e, this.masks ? tf.mul(self, this.masks.selfWeight(i + 1)) : self);
      });
      for (const t of terms) e = tf.add(e, t.energy(all));
      return e;
    });
  }

  /** F = E + β·C per example. */
  totalEnergy(states: State, nudge?: Nudge): tf.Tensor {
    return tf.tidy(() => {
      const e = this.energy(states);
      if (!nudge || nudge.beta === 0) return e;
      return tf.add(e, tf.mul(nudge.beta, this.net.cost.cost(this.outputActivity(states), nudge.y)));
    });
  }

  /** The output layer's activity as the cost reads it: masked under dropout. Use inside tf.tidy (it may be the state itself). */
  outputActivity(states: State): tf.Tensor {
    const L = this.net.depth;
    const out = this.net.activity(L, states[L - 1]);
    return this.masks ? this.masks.act(L, out) : out;
  }

  /** `[x, a_1 … a_L]` at `states` as the terms see them (masked under dropout). */
  private termActs(states: State): tf.Tensor[] {
    const all = this.allActs(this.net.activities(states));
    return this.masks ? this.masks.acts(all) : all;
  }

  /**
   * ∂E/∂θ at `states`, averaged over the batch (each term's paramGrads; vector-field terms hold
   * each layer's neighbours at `anchor`, default `states`).
   */
  paramGrads(states: State, anchor?: State): Grads {
    return tf.tidy(() => {
      const all = this.termActs(states);
      const at = anchor && this.termActs(anchor);
      const grads: Grads = {};
      for (const t of this.net.terms) Object.assign(grads, t.paramGrads(all, at));
      return grads;
    });
  }

  /**
   * (∂E/∂θ(a) − ∂E/∂θ(b)) · scale: the finite difference every EP estimator is made of, each
   * term's paramGradsDiff, or (paramGrads(a, anchor) − paramGrads(b, anchor))·scale for a term
   * without one. `anchor` is the free
   * equilibrium, where vector-field terms hold each layer's neighbours (default `b`, which is the
   * free state of a one-sided estimate); energy terms ignore it.
   */
  paramGradsDiff(a: State, b: State, scale: number, anchor?: State): Grads {
    return tf.tidy(() => {
      const allA = this.termActs(a);
      const allB = this.termActs(b);
      const at = anchor && anchor !== b ? this.termActs(anchor) : allB;
      const grads: Grads = {};
      for (const t of this.net.terms) {
        if (t.paramGradsDiff) {
          Object.assign(grads, t.paramGradsDiff(allA, allB, scale, at));
        } else {
          const ga = t.paramGrads(allA, at);
          const gb = t.paramGrads(allB, at);
          for (const k of Object.keys(ga)) grads[k] = tf.mul(tf.sub(ga[k], gb[k]), scale);
        }
      }
      return grads;
    });
  }

  dispose(): void {
    this.cache.dispose();
    for (const f of this.staticFields) f?.dispose();
    if (this.ownsInput) this.x.dispose();
    this.masks?.dispose();
  }
}
