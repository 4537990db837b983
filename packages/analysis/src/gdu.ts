import { bptt, checkBpttSteps, dynamicsOf } from '@eqprop/baselines';
import { ConfigError, type Grads, type State, tf } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import type { Solver } from '@eqprop/solvers';

export interface GduOptions {
  /** The dynamics: FixedPoint('synchronous') (prototypical) or GradientDescent(ε) (energy-based). */
  solver: Solver;
  /** T: free steps (BPTT's forward pass and EP's free phase are the same T steps). */
  freeSteps: number;
  /** K ≤ T: nudged steps of EP = steps back in time of BPTT. */
  nudgedSteps: number;
  /** β of the nudged phase (Ernoult et al. use a fixed positive β). */
  beta: number;
  /** Start of the free phase (default: zeros). */
  init?: State;
}

export type GduKind = 'neurons' | 'weights' | 'biases';

/** EP's increments and BPTT's gradients of one group of components (one layer's neurons, one parameter). */
export interface GduTrace {
  /** `s1`, `s2`, … for neurons; the parameter's name (`W0_1`, `b1`, …) otherwise. */
  name: string;
  kind: GduKind;
  /** The layer: of the neurons, or the one the parameter feeds. */
  layer: number;
  /** Shape of one component record (neurons: the layer's shape; parameters: theirs). */
  shape: number[];
  size: number;
  /** ΔEP(k), k = 0 … K−1, row-major K × size. */
  ep: Float32Array;
  /** −∇BPTT(k), same layout: the sign is flipped so that GDU reads ep ≈ bptt. */
  bptt: Float32Array;
}

export interface GduResult {
  steps: number;
  freeSteps: number;
  beta: number;
  /** Time step of the dynamics (EP's neural increments are divided by β·dt). */
  dt: number;
  /** Largest state change of one more free step after T: the GDU property needs it ≈ 0. */
  freeResidual: number;
  traces: GduTrace[];
}

/** Throws a ConfigError naming the value when β is 0 (or not a number) or K > T. */
export function checkGduOptions(opts: Pick<GduOptions, 'freeSteps' | 'nudgedSteps' | 'beta'>): void {
  const { beta } = opts;
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta === 0) {
    throw new ConfigError(`β must be a non-zero finite number for the GDU check, got ${beta}`);
  }
  checkBpttSteps(opts.freeSteps, opts.nudgedSteps);
}

/**
 * The GDU check of Ernoult et al. 2019 on one batch. After T free steps (s_T = s_*):
 * EP runs K nudged steps and records, for k = 0 … K−1,
 *   ΔEP_s(k) = (s^β_{k+1} − s^β_k) / (β·dt),  ΔEP_θ(k) = (∂Φ/∂θ(s^β_{k+1}) − ∂Φ/∂θ(s^β_k)) / β;
 * BPTT differentiates L = C(s_T) back through the last K steps and records ∇_θ(k), the gradient
 * through step T−k, and ∇_u(k) = ∂L/∂u_{T−k}, the gradient at the neurons' input (the field h
 * for the fixed-point step). With a converged free phase, ΔEP(k) → −∇BPTT(k) as β → 0.
 * Neurons are compared through their input: with s = σ(h), the increments of EP equal
 * −σ'(h)·∂L/∂s = −∂L/∂h exactly to first order in β. Everything is a mean over the batch.
 */
export function gduCheck(net: EnergyNetwork, x: tf.Tensor, y: tf.Tensor, opts: GduOptions): GduResult {
  const { solver, freeSteps: T, nudgedSteps: K, beta } = opts;
  checkGduOptions(opts);
  const { dt } = dynamicsOf(solver);
  const bound = net.bind(x);
  const init = opts.init ?? net.zeroState(x.shape[0]);
  try {
    const back = bptt(bound, y, init, { solver, freeSteps: T, truncation: K, record: true });
    const free = back.state;
    const residual = solver.relax(bound, free, { maxSteps: 1 });
    residual.state.forEach((t) => t.dispose());

    const traces = gduGroups(net, K);
    const neuron = traces.filter((t) => t.kind === 'neurons');
    const params = traces.filter((t) => t.kind !== 'neurons');
    let s = free;
    for (let k = 0; k < K; k++) {
      const next = solver.relax(bound, s, { maxSteps: 1, nudge: { beta, y } }).state;
      const step = back.steps![k];
      tf.tidy(() => {
        neuron.forEach((tr, i) => {
          write(tr.ep, k, tf.div(batchMean(tf.sub(next[i], s[i])), beta * dt));
          write(tr.bptt, k, tf.neg(batchMean(step.pre[i])));
        });
        // (∂E/∂θ(s) − ∂E/∂θ(next)) / β = (∂Φ/∂θ(next) − ∂Φ/∂θ(s)) / β, since E = Σ G(s) − Φ
        const ep: Grads = bound.paramGradsDiff(s, next, 1 / beta);
        for (const tr of params) {
          write(tr.ep, k, ep[tr.name]);
          write(tr.bptt, k, tf.neg(step.params[tr.name]));
        }
      });
      if (s !== free) s.forEach((t) => t.dispose());
      s = next;
      [...step.state, ...step.pre, ...Object.values(step.params)].forEach((t) => t.dispose());
    }
    s.forEach((t) => t.dispose());
    free.forEach((t) => t.dispose());
    Object.values(back.grads).forEach((t) => t.dispose());
    return { steps: K, freeSteps: T, beta, dt, freeResidual: residual.residual, traces };
  } finally {
    if (!opts.init) init.forEach((t) => t.dispose());
    bound.dispose();
  }
}

/**
 * The groups a GDU check reports, as zero-filled traces of K steps: each layer's neurons, then
 * the parameters that feed it, in term order. With K = 0, a cheap list of what exists (to check
 * a plot request before the check runs).
 */
export function gduGroups(net: EnergyNetwork, K = 0): GduTrace[] {
  const traces: GduTrace[] = [];
  const make = (name: string, kind: GduKind, layer: number, shape: number[]): GduTrace => {
    const size = shape.reduce((a, b) => a * b, 1);
    return { name, kind, layer, shape, size, ep: new Float32Array(K * size), bptt: new Float32Array(K * size) };
  };
  for (let k = 1; k <= net.depth; k++) {
    traces.push(make(`s${k}`, 'neurons', k, net.layerShapes[k - 1]));
    for (const term of net.terms) {
      if (Math.max(...term.layers) !== k) continue;
      for (const [name, p] of Object.entries(term.params)) traces.push(make(name, p.rank === 1 ? 'biases' : 'weights', k, p.shape.slice()));
    }
  }
  return traces;
}

function batchMean(t: tf.Tensor): tf.Tensor {
  return tf.mean(t.reshape([t.shape[0], -1]), 0);
}

/** Row k of a K × size record. */
function write(target: Float32Array, k: number, t: tf.Tensor): void {
  target.set(t.dataSync() as Float32Array, k * t.size);
}
