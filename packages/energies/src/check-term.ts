import { EqpropError, type Grads, tf } from '@eqprop/core';
import type { EnergyNetwork } from './network.js';
import { type Term, TermCache } from './term.js';
import { probeTermShapes } from './term-shapes.js';

export interface TermCheckOptions {
  /** Examples in the random batch (default 3). */
  batch?: number;
  /** Seed of the random activities and parameters (default 1). */
  seed?: number;
  /** Largest relative error max|a − b| / max|b| against tf.grad (default 1e-4, float32). */
  tolerance?: number;
  /**
   * Give the parameters random values N(0, 0.5²) during the check, restored after it (default
   * true): a term initialised at zero would otherwise pass a wrong field (0 = 0).
   */
  randomParams?: boolean;
  /** Throw a TermCheckError on the first failing report (default true); false only returns it. */
  throwOnFailure?: boolean;
}

/** One check of a term: what was checked (`part`), whether it passed, and the measured detail. */
export interface TermCheckResult {
  part: string;
  ok: boolean;
  detail: string;
}

export interface TermCheckReport {
  term: string;
  ok: boolean;
  results: TermCheckResult[];
  failures: TermCheckResult[];
}

/** A term that failed checkTerm; the message names the term and the first failing part. */
export class TermCheckError extends EqpropError {
  constructor(readonly report: TermCheckReport) {
    const [first, ...rest] = report.failures;
    const more = rest.length ? ` (and ${rest.length} more: ${rest.map((r) => r.part).join('; ')})` : '';
    super('E_TERM_CHECK', `term ${report.term} fails checkTerm: ${first.part}: ${first.detail}${more}`);
    this.name = 'TermCheckError';
  }
}

/** max |a − b| / max(|b|, floor): the relative error every closed-form check uses. */
export function relError(a: tf.Tensor, b: tf.Tensor, floor = 1e-3): number {
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    const scale = Math.max(tf.max(tf.abs(b)).dataSync()[0], floor);
    return diff / scale;
  });
}

/**
 * Tests a term the way eqprop's own terms are tested, on random activities in [0, 1]: its shapes
 * (probeTermShapes, or its own shapeMismatch), its field on every free layer it touches against
 * −∂(Σ E)/∂a_k by tf.grad of its energy, its parameter gradients against tf.grad of the batch mean
 * of its energy, its paramGradsDiff (where it has one) against two paramGrads calls, a field that
 * isStaticFor calls static against the same field at other free activities, and that no call
 * leaves a tensor behind (tf.memory().numTensors before and after).
 * `layers` is the per-example shape of every layer, input first (`[inputShape, ...layerShapes]`),
 * or a network to take them from.
 *
 * Runs on the current backend: tf.grad of a convolution's kernel needs the cpu backend (wasm has
 * no Conv2DBackpropFilter).
 */
export function checkTerm(term: Term, layers: readonly (readonly number[])[] | EnergyNetwork, opts: TermCheckOptions = {}): TermCheckReport {
  const shapes = isNetwork(layers) ? [layers.inputShape, ...layers.layerShapes] : layers;
  const { batch = 3, seed = 1, tolerance = 1e-4, randomParams = true, throwOnFailure = true } = opts;
  const results: TermCheckResult[] = [];
  const record = (part: string, ok: boolean, detail: string) => results.push({ part, ok, detail });
  const before = tf.memory().numTensors;
  const misfit = term.layers.some((k) => !shapes[k])
    ? `it touches layers ${term.layers.join(', ')}, but shapes are given for 0 … ${shapes.length - 1}`
    : term.shapeMismatch
      ? term.shapeMismatch(shapes)
      : probeTermShapes(term, shapes);
  record('shapes', !misfit, misfit ?? 'energy, fields and parameter gradients have the shapes of the layers and parameters');
  if (!misfit) {
    const saved = randomParams ? randomiseParams(term, seed) : [];
    const acts = shapes.map((s, i) => tf.randomUniform([batch, ...s], 0, 1, 'float32', seed * 1000 + i));
    // the same input, other free activities: the second state of an EP difference, and a static field must not move with them
    const other = shapes.map((s, i) => (i === 0 ? acts[0] : tf.randomUniform([batch, ...s], 0, 1, 'float32', seed * 1000 + 500 + i)));
    try {
      checkAll(term, acts, other, tolerance, record);
    } finally {
      for (const [v, value] of saved) {
        v.assign(value);
        value.dispose();
      }
      tf.dispose([...acts, ...other.slice(1)]);
    }
  }
  const leaked = tf.memory().numTensors - before;
  record('tensor count', leaked === 0, `${leaked} tensor(s) more after the whole check than before`);
  const failures = results.filter((r) => !r.ok);
  const report = { term: term.name, ok: failures.length === 0, results, failures };
  if (!report.ok && throwOnFailure) throw new TermCheckError(report);
  return report;
}

type Record_ = (part: string, ok: boolean, detail: string) => void;

function checkAll(term: Term, acts: tf.Tensor[], other: tf.Tensor[], tol: number, record: Record_): void {
  /**
   * Runs a call and counts the tensors it leaves behind besides its result; with a reference,
   * records the relative error between them.
   */
  const compare = (part: string, got: () => tf.Tensor, reference?: () => tf.Tensor) => {
    const start = tf.memory().numTensors;
    let value: tf.Tensor;
    try {
      value = got();
    } catch (e) {
      record(part, false, `threw ${oneLine(e)}`);
      return;
    }
    const leaked = tf.memory().numTensors - start - 1;
    if (leaked !== 0) record(`${part}: tensor leaks`, false, `leaves ${leaked} tensor(s) behind besides its result`);
    if (reference) {
      const ref = tf.tidy(reference);
      const shapeOk = value.shape.join(',') === ref.shape.join(',');
      const err = shapeOk ? relError(value, ref) : Number.NaN;
      if (!shapeOk) record(part, false, `has shape [${value.shape}], the reference [${ref.shape}]`);
      else record(part, err <= tol, `relative error ${err.toExponential(2)} (tolerance ${tol})`);
      ref.dispose();
    }
    value.dispose();
  };
  /** A call that needs a TermCache: its result, copied, with the cache disposed (what the cache held is not a leak). */
  const withCache = (make: (cache: TermCache) => tf.Tensor) => () => {
    const cache = new TermCache();
    try {
      const v = make(cache);
      const out = v.clone();
      v.dispose();
      return out;
    } finally {
      cache.dispose();
    }
  };

  compare('energy', () => term.energy(acts));
  for (const k of [...new Set(term.layers)].filter((l) => l > 0)) {
    const field = (from: tf.Tensor[]) => withCache((c) => term.field(from, k, c))();
    const minusGrad = () =>
      tf.grad((a: tf.Tensor) => {
        const all = acts.slice();
        all[k] = a;
        return tf.neg(tf.sum(term.energy(all)));
      })(acts[k]);
    compare(`field on layer ${k} against −∂E/∂a_${k} (tf.grad)`, () => field(acts), minusGrad);
    if (term.isStaticFor(k)) {
      // the network computes a static field once per batch: it must not move with the free layers
      compare(
        `field on layer ${k} (static by isStaticFor) with other free activities`,
        () => field(other),
        () => field(acts),
      );
    }
  }

  const params = Object.entries(term.params);
  if (params.length === 0) return;
  let reference: Grads;
  try {
    // tf.variableGrads names its gradients by the variables' tfjs names; a parameter E does not use gets 0
    const { grads, value } = tf.variableGrads(
      () => tf.mean(term.energy(acts)) as tf.Scalar,
      params.map(([, v]) => v),
    );
    value.dispose();
    reference = Object.fromEntries(params.map(([name, v]) => [name, grads[v.name] ?? tf.zerosLike(v)]));
  } catch (e) {
    record('tf.grad of the energy with respect to the parameters', false, `threw ${oneLine(e)}`);
    return;
  }
  const names = (() => {
    try {
      return tf.tidy(() => Object.keys(term.paramGrads(acts)));
    } catch {
      return undefined; // recorded below, per parameter
    }
  })();
  const extra = names?.filter((n) => !Object.hasOwn(term.params, n)) ?? [];
  if (extra.length) record('parameter gradient names', false, `paramGrads gives ${extra.join(', ')}, which the term's params lack`);
  for (const [name] of params) {
    compare(
      `gradient of ${name} against ∂(mean E)/∂${name} (tf.grad)`,
      () => pick(term.paramGrads(acts), name),
      () => reference[name].clone(),
    );
    if (term.paramGradsDiff) {
      const s = 1.3;
      compare(
        `paramGradsDiff of ${name} against ${s}·(paramGrads(a) − paramGrads(b))`,
        () => pick(term.paramGradsDiff!(acts, other, s), name),
        () => tf.mul(tf.sub(term.paramGrads(acts)[name], term.paramGrads(other)[name]), s),
      );
    }
  }
  tf.dispose(Object.values(reference));
}

/** One gradient of a record, the others disposed. */
function pick(grads: Grads, name: string): tf.Tensor {
  for (const [k, g] of Object.entries(grads)) if (k !== name) g.dispose();
  if (!grads[name]) throw new Error(`paramGrads gives no gradient named ${name}`);
  return grads[name];
}

function randomiseParams(term: Term, seed: number): [tf.Variable, tf.Tensor][] {
  return Object.values(term.params).map((v, i) => {
    const old = tf.clone(v);
    const fresh = tf.randomNormal(v.shape, 0, 0.5, 'float32', seed * 7919 + i);
    v.assign(fresh);
    fresh.dispose();
    return [v, old];
  });
}

function isNetwork(x: unknown): x is EnergyNetwork {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'layerShapes' in x;
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 200);
}
