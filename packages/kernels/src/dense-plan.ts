import { type State, tf } from '@eqprop/core';
import { Bias, type BoundNetwork, DenseCoupling, type EnergyNetwork, MseCost } from '@eqprop/energies';
import { CLIP01, LOGISTIC } from './wasm-kernels.js';

/** One product feeding layer k's field: the activity of layer `from` times a fixed matrix. */
export interface Product {
  from: number;
  /** `nn`: field += a·b with b [inner × width]; `nt`: field += a·bᵀ with b [width × inner]. */
  form: 'nn' | 'nt';
  b: Float32Array;
  inner: number;
}

export interface LayerPlan {
  /** Free layer index (1-based). */
  k: number;
  width: number;
  /** Activation base: LOGISTIC or CLIP01 (`activate`'s codes). */
  base: number;
  /** The activation's gain (folded into weights and the static field; the nudge is scaled by it). */
  gain: number;
  /** gain·(static field − centre), per example: [batch × width]. */
  statics: Float32Array;
  products: Product[];
}

/** What a fused relaxation of one bound batch needs, read from the network once per batch. */
export interface DensePlan {
  batch: number;
  layers: LayerPlan[];
  /** The MSE cost's weight w (C = w‖s_L − y‖²). */
  costWeight: number;
}

/** A moving coupling of a layer: `term`'s weight W [n_lower × n_upper] on the side `up` (the layer is its upper one) or not. */
export interface MovingCoupling {
  term: DenseCoupling;
  /** The other layer (1-based). */
  from: number;
  up: boolean;
  form: 'nn' | 'nt';
}

/** A layer as the network defines it, for plans made without a bound batch. */
export interface NetLayer {
  k: number;
  width: number;
  base: number;
  gain: number;
  centre: number;
  moving: MovingCoupling[];
  /** Couplings from the clamped input: x·W is part of the static field. */
  fromInput: DenseCoupling[];
  biases: Bias[];
}

/** Activation bases the kernels have: the logistic and clip(·, 0, 1). */
function baseOf(act: { name: string; fusedBase?: string }): number | undefined {
  if (act.fusedBase === 'sigmoid') return LOGISTIC;
  if (act.name === 'hard-sigmoid' || act.name === 'half-clip') return CLIP01;
  return undefined;
}

/**
 * Why the fused path cannot relax `net`, or undefined when it can: flat layers, only dense
 * couplings and biases (their own classes: a subclass or another coupling, such as a
 * vector-field one, may define other fields), activations the kernels have, an MSE cost, a CPU
 * backend (the kernels work on host memory; a GPU backend keeps its tensors where it computes).
 */
export function unfusedNetReason(net: EnergyNetwork): string | undefined {
  const backend = tf.getBackend();
  if (!['wasm', 'cpu', 'tensorflow'].includes(backend)) return `the ${backend} backend computes off the host`;
  if (net.form === 'hopfield' && !net.activations.every((a) => a.identityOnRange))
    return 'a hopfield network whose activation is not the identity on its range';
  if (net.layerShapes.some((s) => s.length !== 1)) return 'layers that are not flat (a convolutional network)';
  const other = net.terms.find((t) => t.constructor !== DenseCoupling && t.constructor !== Bias);
  if (other) return `term ${other.name} is neither a dense coupling nor a bias`;
  const act = net.activations.find((a) => baseOf(a) === undefined);
  if (act) return `activation ${act.name} has no fused kernel`;
  if (net.cost.constructor !== MseCost) return `cost ${net.cost.name} has no fused kernel (MSE only)`;
  return undefined;
}

/** `unfusedNetReason` of a bound batch's network, or its dropout masks (a training batch's: they gate the fields). */
export function unfusedReason(bound: BoundNetwork): string | undefined {
  if (bound.masks) return 'its dropout masks are applied by tfjs ops';
  return unfusedNetReason(bound.net);
}

/**
 * The product's form for an output of `width` from an inner size `inner`: rows × 8 columns tiles
 * (`nn`) unless the output is narrower than its inner size and not a multiple of 8, where dot
 * products (`nt`) keep the vector lanes busy (the 10 outputs of a classifier from 512 units).
 */
export function formOf(width: number, inner: number): 'nn' | 'nt' {
  return width % 8 === 0 || width >= inner ? 'nn' : 'nt';
}

/** The network's layers for the kernels (unfusedNetReason must have said yes). */
export function netLayers(net: EnergyNetwork): NetLayer[] {
  return net.layerShapes.map((shape, i) => {
    const k = i + 1;
    const act = net.activations[i];
    const moving: MovingCoupling[] = [];
    const fromInput: DenseCoupling[] = [];
    const biases: Bias[] = [];
    for (const t of net.terms) {
      if (!t.layers.includes(k)) continue;
      if (t instanceof Bias) biases.push(t);
      else if (t instanceof DenseCoupling) {
        if (t.isStaticFor(k)) fromInput.push(t);
        else {
          const up = t.upper === k;
          const from = up ? t.lower : t.upper;
          moving.push({ term: t, from, up, form: formOf(shape[0], net.layerShapes[from - 1][0]) });
        }
      }
    }
    return { k, width: shape[0], base: baseOf(act)!, gain: act.affine.gain, centre: act.affine.centre, moving, fromInput, biases };
  });
}

/** A moving coupling's matrix for its product: gain·W laid out for `form` (W [n_lower × n_upper]). */
export function productMatrix(m: MovingCoupling, w: Float32Array, gain: number): Float32Array {
  const [nl, nu] = m.term.weight.shape;
  const g = scaled(w, gain);
  // the field is a·(gW) on the upper side (gW: [inner × width]) and a·(gW)ᵀ on the lower side
  return m.up === (m.form === 'nn') ? g : transpose(g, nl, nu);
}

const plans = new WeakMap<BoundNetwork, DensePlan>();

/**
 * The plan of a bound batch (unfusedReason must have said yes), made once and kept while the
 * BoundNetwork lives: its free and nudged phases share it. Static fields come from the network's
 * own preActivation at zero moving activities (dense fields are linear: they add exactly 0).
 */
export function densePlan(bound: BoundNetwork): DensePlan {
  let plan = plans.get(bound);
  if (plan) return plan;
  const net = bound.net;
  const m = bound.batchSize;
  const zeros: State = net.layerShapes.map((s) => tf.zeros([m, ...s]));
  try {
    const layers = netLayers(net).map((l): LayerPlan => {
      const z = tf.tidy(() => bound.preActivation(bound.allActs(zeros), l.k));
      const statics = z.dataSync() as Float32Array;
      z.dispose();
      const products = l.moving.map((mc): Product => {
        const b = productMatrix(mc, mc.term.weight.dataSync() as Float32Array, l.gain);
        return { from: mc.from, form: mc.form, b, inner: net.layerShapes[mc.from - 1][0] };
      });
      return { k: l.k, width: l.width, base: l.base, gain: l.gain, statics, products };
    });
    plan = { batch: m, layers, costWeight: (net.cost as MseCost).weight };
  } finally {
    zeros.forEach((z) => z.dispose());
  }
  plans.set(bound, plan);
  return plan;
}

/** gain·w, rounded to float32 as tf.mul rounds it. */
function scaled(w: Float32Array, gain: number): Float32Array {
  if (gain === 1) return w;
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] * gain;
  return out;
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = w[i * cols + j];
  return out;
}
