import { type State, tf } from '@eqprop/core';
import { Bias, type BoundNetwork, DenseCoupling, MseCost } from '@eqprop/energies';
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

/** Activation bases the kernels have: the logistic and clip(·, 0, 1). */
function baseOf(act: { name: string; fusedBase?: string }): number | undefined {
  if (act.fusedBase === 'sigmoid') return LOGISTIC;
  if (act.name === 'hard-sigmoid' || act.name === 'half-clip') return CLIP01;
  return undefined;
}

/**
 * Why the fused path cannot relax `bound`'s network, or undefined when it can: flat layers, only
 * dense couplings and biases, activations the kernels have, an MSE cost, a CPU backend (the
 * kernels work on host memory; a GPU backend keeps its tensors where it computes).
 */
export function unfusedReason(bound: BoundNetwork): string | undefined {
  const net = bound.net;
  const backend = tf.getBackend();
  if (!['wasm', 'cpu', 'tensorflow'].includes(backend)) return `the ${backend} backend computes off the host`;
  if (net.form === 'hopfield' && !net.activations.every((a) => a.identityOnRange))
    return 'a hopfield network whose activation is not the identity on its range';
  if (net.layerShapes.some((s) => s.length !== 1)) return 'layers that are not flat (a convolutional network)';
  const other = net.terms.find((t) => !(t instanceof DenseCoupling) && !(t instanceof Bias));
  if (other) return `term ${other.name} is neither a dense coupling nor a bias`;
  const act = net.activations.find((a) => baseOf(a) === undefined);
  if (act) return `activation ${act.name} has no fused kernel`;
  if (!(net.cost instanceof MseCost)) return `cost ${net.cost.name} has no fused kernel (MSE only)`;
  for (let k = 1; k <= net.depth; k++) {
    for (const t of net.terms) {
      if (!(t instanceof DenseCoupling) || !t.layers.includes(k) || t.isStaticFor(k)) continue;
      const from = t.upper === k ? t.lower : t.upper;
      if (!formOf(net.layerShapes[k - 1][0], net.layerShapes[from - 1][0]))
        return `layer widths ${net.layerShapes[k - 1][0]} and ${net.layerShapes[from - 1][0]} are both not multiples of 4`;
    }
  }
  return undefined;
}

/** The product's form for an output of `width` and an inner size `inner` (n % 4 for nn, k % 4 for nt). */
function formOf(width: number, inner: number): 'nn' | 'nt' | undefined {
  if (width % 4 === 0 && (inner % 4 !== 0 || width >= inner)) return 'nn';
  if (inner % 4 === 0) return 'nt';
  return width % 4 === 0 ? 'nn' : undefined;
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
    const layers = net.layerShapes.map((shape, i): LayerPlan => {
      const k = i + 1;
      const act = net.activations[i];
      const gain = act.affine.gain;
      const z = tf.tidy(() => bound.preActivation(bound.allActs(zeros), k));
      const statics = z.dataSync() as Float32Array;
      z.dispose();
      const products: Product[] = [];
      for (const t of net.terms) {
        if (!(t instanceof DenseCoupling) || !t.layers.includes(k) || t.isStaticFor(k)) continue;
        const up = t.upper === k;
        const from = up ? t.lower : t.upper;
        const [nl, nu] = t.weight.shape;
        const w = scaled(t.weight.dataSync() as Float32Array, gain);
        // the field is a·(gW) on the upper side (gW: [inner × width]) and a·(gW)ᵀ on the lower side
        const width = shape[0];
        const inner = net.layerShapes[from - 1][0];
        const form = formOf(width, inner)!;
        const b = up === (form === 'nn') ? w : transpose(w, nl, nu);
        products.push({ from, form, b, inner });
      }
      return { k, width: shape[0], base: baseOf(act)!, gain, statics, products };
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
