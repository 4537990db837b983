import { addGrads, ConfigError, type Grads, type Reads, runSync, type State, tf } from '@eqprop/core';
import type { BoundNetwork } from '@eqprop/energies';
import type { Solver } from '@eqprop/solvers';
import { dynamicsOf, type Transition } from './dynamics.js';
import { fieldParamVjp, isStaticTerm, requireSymmetricJacobian } from './field-vjp.js';

export interface BpttOptions {
  /** The solver whose step is unrolled: FixedPoint('synchronous') or GradientDescent(ε). */
  solver: Solver;
  /** T: steps of the free dynamics from `init`; the loss is C(s_T). */
  freeSteps: number;
  /** K ≤ T: how many of the last steps the gradient goes back through (truncated BPTT). */
  truncation: number;
  /** Keep every step's gradients (for the GDU check); otherwise only their sum. */
  record?: boolean;
}

/** Gradients of one step back in time: k = 0 is the last step (t = T), k = K−1 is t = T−K+1. */
export interface BpttStep {
  /** ∂L/∂s_{T−k}, per free layer, per example. */
  state: State;
  /** ∂L/∂u_{T−k}: the gradient at each layer's input u (the field h = ∂Φ/∂s for the fixed-point step). */
  pre: tf.Tensor[];
  /** ∂L/∂θ through step T−k alone (the step s_{T−k−1} → s_{T−k}), averaged over the batch. */
  params: Grads;
}

export interface BpttResult {
  /** s_T, where the loss is taken. */
  state: State;
  /** ∂L/∂θ of the truncated BPTT: Σ_k of the per-step gradients, plus the cost's own parameters. */
  grads: Grads;
  /** Per-step gradients, k = 0 … K−1 (only with `record`). */
  steps?: BpttStep[];
}

/** Checks T and K before anything runs; the message names the bad value. */
export function checkBpttSteps(freeSteps: number, truncation: number): void {
  if (!Number.isInteger(freeSteps) || freeSteps < 1) throw new ConfigError(`free steps T must be a positive integer, got ${freeSteps}`);
  if (!Number.isInteger(truncation) || truncation < 1) throw new ConfigError(`steps back in time K must be a positive integer, got ${truncation}`);
  if (truncation > freeSteps) {
    throw new ConfigError(`K = ${truncation} steps back in time exceed the T = ${freeSteps} free steps that were run: need K ≤ T`);
  }
}

/**
 * Backpropagation through time through the solver's own discrete dynamics: T free steps from
 * `init` (the first T − K by the solver itself), loss L = mean over the batch of C(s_T, y), then
 * the closed-form backward pass over the last K steps (Ernoult et al. 2019). The caller owns
 * every tensor of the result.
 */
export function bptt(bound: BoundNetwork, y: tf.Tensor, init: State, opts: BpttOptions): BpttResult {
  return runSync(bpttReads(bound, y, init, opts));
}

/** `bptt` as a Reads program (its one read: the head's relaxation); checks its options when called. */
export function bpttReads(bound: BoundNetwork, y: tf.Tensor, init: State, opts: BpttOptions): Reads<BpttResult> {
  checkBpttSteps(opts.freeSteps, opts.truncation);
  requireSymmetricJacobian(bound.net);
  return bpttProgram(bound, y, init, opts);
}

function* bpttProgram(bound: BoundNetwork, y: tf.Tensor, init: State, opts: BpttOptions): Reads<BpttResult> {
  const dynamics = dynamicsOf(opts.solver);
  const net = bound.net;
  const K = opts.truncation;

  // forward: the head by the solver, the last K steps kept for the backward pass
  let s: State = opts.freeSteps > K ? (yield* opts.solver.relaxReads(bound, init, { maxSteps: opts.freeSteps - K })).state : init.map((t) => t.clone());
  const head = s;
  const path: Transition[] = [];
  for (let i = 0; i < K; i++) {
    const tr = dynamics.forward(bound, s);
    path.push(tr);
    s = tr.next;
  }

  // backward from λ_T = ∂C/∂s_T (per example; the batch mean comes in through the parameter gradients)
  let lambda = outputGrad(bound, s, y);
  let grads: Grads = {};
  const steps: BpttStep[] = [];
  let staticDir: tf.Tensor[] | null = null;
  let lastActs: tf.Tensor[] | null = null;
  for (let k = 0; k < K; k++) {
    const tr = path[K - 1 - k];
    const back = dynamics.backward(bound, tr, lambda, k < K - 1);
    let params: Grads;
    if (opts.record) {
      params = fieldParamVjp(bound, back.acts, back.dir);
    } else {
      // terms with a clamped side (input couplings, biases) get the sum of the directions, once
      params = fieldParamVjp(bound, back.acts, back.dir, (t) => !isStaticTerm(t));
      const summed: tf.Tensor[] = staticDir ? staticDir.map((d, i) => tf.add(d, back.dir[i])) : back.dir.map((d) => d.clone());
      staticDir?.forEach((t) => t.dispose());
      staticDir = summed;
      lastActs?.forEach((t) => t.dispose());
      lastActs = back.acts.map((t) => t.clone());
    }
    const total = addGrads(grads, params);
    disposeGrads(grads);
    grads = total;
    back.acts.forEach((t) => t.dispose());
    back.dir.forEach((t) => t.dispose());
    if (opts.record) {
      steps.push({ state: lambda, pre: back.pre, params });
    } else {
      lambda.forEach((t) => t.dispose());
      back.pre.forEach((t) => t.dispose());
      disposeGrads(params);
    }
    lambda = back.prev ?? [];
    // the step is done: its saved tensors and s_{T−k} go (s_T is returned; s_{T−k−1} is the next step's)
    for (const t of [...tr.saved, ...(k > 0 ? tr.next : [])]) t.dispose();
  }
  lambda.forEach((t) => t.dispose());
  if (staticDir && lastActs) {
    const params = fieldParamVjp(bound, lastActs, staticDir, isStaticTerm);
    const total = addGrads(grads, params);
    disposeGrads(grads);
    disposeGrads(params);
    grads = total;
    (staticDir as tf.Tensor[]).forEach((t) => t.dispose());
    lastActs.forEach((t) => t.dispose());
  }
  head.forEach((t) => t.dispose());

  if (Object.keys(net.cost.params).length > 0) {
    Object.assign(
      grads,
      tf.tidy(() => net.cost.paramGrads(net.activity(net.depth, s[s.length - 1]), y)),
    );
  }
  return { state: s, grads, steps: opts.record ? steps : undefined };
}

/** λ_T = ∂C/∂s_T: zero on hidden layers; on the output, ρ'(s_L) ⊙ ∂C/∂ρ(s_L) (primitive form: ∂C/∂s_L). */
export function outputGrad(bound: BoundNetwork, state: State, y: tf.Tensor): State {
  const net = bound.net;
  return tf.tidy(() =>
    state.map((s, i) => {
      if (i < state.length - 1) return tf.zerosLike(s);
      const act = net.activations[i];
      const out = net.activity(net.depth, s);
      const dC = tf.neg(net.cost.nudgeField(out, y, bound.cache)).reshape(s.shape);
      return net.form === 'primitive' || act.identityOnRange ? dC : tf.mul(act.derivative(s), dC);
    }),
  );
}

function disposeGrads(g: Grads): void {
  for (const t of Object.values(g)) t.dispose();
}
