/**
 * An independent float64 convnet in the primitive form (Ernoult et al. 2019, Laborieux et al.
 * 2021) in plain TypeScript (no tfjs), used only by tests: conv layers (stride 1, zero padding,
 * max-pooling), then dense layers, a per-channel / per-unit bias on every free layer, and a
 * cross-entropy readout outside the energy. Fixed-point dynamics s_k = σ(∂Φ/∂s_k). Central finite
 * differences of the loss at the converged free fixed point are the true gradient the tfjs EP
 * estimate is checked against.
 *
 * Layouts follow tfjs (row-major): activations [h, w, c], kernels [kh, kw, in, out], dense
 * weights [in, out], the readout [n_L, classes]; a conv layer is flattened h, w, c for the
 * dense layer or readout above it.
 */
export interface RefConvSpec {
  /** Per-example input [h, w, c]. */
  inputShape: [number, number, number];
  convs: { kernel: number; channels: number; padding: number; pool: 'max' | 'none' }[];
  /** Dense free layers after the convolutions (not the readout). */
  dense: number[];
  classes: number;
  /** σ of the fixed point, on a scalar. */
  sigma: (v: number) => number;
  schedule: 'synchronous' | 'alternating';
}

interface ConvLayer {
  kind: 'conv';
  weight: string;
  bias: string;
  k: number;
  padding: number;
  pool: number;
  inShape: number[];
  convShape: number[]; // before pooling
  outShape: number[];
}
interface DenseLayer {
  kind: 'dense';
  weight: string;
  bias: string;
  nIn: number;
  nOut: number;
}

export interface RefConvNet {
  spec: RefConvSpec;
  layers: (ConvLayer | DenseLayer)[];
  /** Parameters by their tfjs names (K0_1, b1, …, W2_3, …, Wout, bout), float64 copies. */
  params: Record<string, Float64Array>;
}

/** A float64 copy of `values` (the tfjs parameters by name) laid out as `spec` says. */
export function refConvnet(spec: RefConvSpec, values: Record<string, ArrayLike<number>>): RefConvNet {
  const layers: (ConvLayer | DenseLayer)[] = [];
  let shape: number[] = spec.inputShape.slice();
  spec.convs.forEach((c, i) => {
    const side = (n: number) => n + 2 * c.padding - c.kernel + 1;
    const convShape = [side(shape[0]), side(shape[1]), c.channels];
    const pool = c.pool === 'max' ? 2 : 1;
    const outShape = [convShape[0] / pool, convShape[1] / pool, c.channels];
    layers.push({ kind: 'conv', weight: `K${i}_${i + 1}`, bias: `b${i + 1}`, k: c.kernel, padding: c.padding, pool, inShape: shape, convShape, outShape });
    shape = outShape;
  });
  let n = shape.reduce((a, b) => a * b, 1);
  spec.dense.forEach((m, j) => {
    const k = spec.convs.length + j + 1;
    layers.push({ kind: 'dense', weight: `W${k - 1}_${k}`, bias: `b${k}`, nIn: n, nOut: m });
    n = m;
  });
  const params = Object.fromEntries(Object.entries(values).map(([name, v]) => [name, Float64Array.from(v)]));
  const expected = [...layers.flatMap((l) => [l.weight, l.bias]), 'Wout', 'bout'];
  for (const name of expected) if (!params[name]) throw new Error(`reference convnet: no values for ${name}`);
  return { spec, layers, params };
}

const size = (l: ConvLayer | DenseLayer) => (l.kind === 'conv' ? l.outShape.reduce((a, b) => a * b, 1) : l.nOut);

/** conv(a) before pooling, [oh, ow, cout]. */
function conv(net: RefConvNet, l: ConvLayer, a: Float64Array): Float64Array {
  const K = net.params[l.weight];
  const [H, W, C] = l.inShape;
  const [oh, ow, co] = l.convShape;
  const out = new Float64Array(oh * ow * co);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let di = 0; di < l.k; di++) {
        const r = i + di - l.padding;
        if (r < 0 || r >= H) continue;
        for (let dj = 0; dj < l.k; dj++) {
          const c = j + dj - l.padding;
          if (c < 0 || c >= W) continue;
          for (let ci = 0; ci < C; ci++) {
            const v = a[(r * W + c) * C + ci];
            if (v === 0) continue;
            const kBase = ((di * l.k + dj) * C + ci) * co;
            const oBase = (i * ow + j) * co;
            for (let o = 0; o < co; o++) out[oBase + o] += v * K[kBase + o];
          }
        }
      }
  return out;
}

/** Max-pooling of c with the index (into c) of each window's first maximum, row-major. */
function maxPool(l: ConvLayer, c: Float64Array): { pooled: Float64Array; argmax: Int32Array } {
  if (l.pool === 1) return { pooled: c, argmax: Int32Array.from(c, (_, i) => i) };
  const [, cw, C] = l.convShape;
  const [h, w] = l.outShape;
  const pooled = new Float64Array(h * w * C);
  const argmax = new Int32Array(h * w * C);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let ch = 0; ch < C; ch++) {
        let best = -Infinity;
        let at = -1;
        for (let di = 0; di < l.pool; di++)
          for (let dj = 0; dj < l.pool; dj++) {
            const idx = ((i * l.pool + di) * cw + (j * l.pool + dj)) * C + ch;
            if (c[idx] > best) [best, at] = [c[idx], idx];
          }
        pooled[(i * w + j) * C + ch] = best;
        argmax[(i * w + j) * C + ch] = at;
      }
  return { pooled, argmax };
}

/** ∂Φ/∂a_lower of a conv coupling: the upper activity routed back through the pooling and the transposed convolution. */
function convBack(net: RefConvNet, l: ConvLayer, argmax: Int32Array, upper: Float64Array): Float64Array {
  const K = net.params[l.weight];
  const [H, W, C] = l.inShape;
  const [oh, ow, co] = l.convShape;
  const g = new Float64Array(oh * ow * co);
  upper.forEach((u, i) => (g[argmax[i]] += u));
  const out = new Float64Array(H * W * C);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let di = 0; di < l.k; di++) {
        const r = i + di - l.padding;
        if (r < 0 || r >= H) continue;
        for (let dj = 0; dj < l.k; dj++) {
          const c = j + dj - l.padding;
          if (c < 0 || c >= W) continue;
          for (let ci = 0; ci < C; ci++) {
            const kBase = ((di * l.k + dj) * C + ci) * co;
            const oBase = (i * ow + j) * co;
            let s = 0;
            for (let o = 0; o < co; o++) s += g[oBase + o] * K[kBase + o];
            out[(r * W + c) * C + ci] += s;
          }
        }
      }
  return out;
}

function softmax(z: Float64Array): Float64Array {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Readout logits a_L·Wout + bout. */
function logits(net: RefConvNet, out: Float64Array): Float64Array {
  const { Wout, bout } = net.params;
  const classes = net.spec.classes;
  const z = Float64Array.from(bout);
  for (let i = 0; i < out.length; i++) for (let c = 0; c < classes; c++) z[c] += out[i] * Wout[i * classes + c];
  return z;
}

/** ∂Φ/∂s_k for free layer k (1-based). */
function field(net: RefConvNet, x: Float64Array, s: Float64Array[], k: number): Float64Array {
  const acts = [x, ...s];
  const l = net.layers[k - 1];
  const b = net.params[l.bias];
  const f = new Float64Array(size(l));
  if (l.kind === 'conv') {
    const { pooled } = maxPool(l, conv(net, l, acts[k - 1]));
    for (let i = 0; i < f.length; i++) f[i] = pooled[i] + b[i % b.length];
  } else {
    const W = net.params[l.weight];
    const below = acts[k - 1];
    for (let j = 0; j < l.nOut; j++) f[j] = b[j];
    for (let i = 0; i < l.nIn; i++) if (below[i] !== 0) for (let j = 0; j < l.nOut; j++) f[j] += below[i] * W[i * l.nOut + j];
  }
  const up = net.layers[k];
  if (up && up.kind === 'conv') {
    const { argmax } = maxPool(up, conv(net, up, acts[k]));
    const back = convBack(net, up, argmax, acts[k + 1]);
    for (let i = 0; i < f.length; i++) f[i] += back[i];
  } else if (up) {
    const W = net.params[up.weight];
    const above = acts[k + 1];
    for (let i = 0; i < up.nIn; i++) for (let j = 0; j < up.nOut; j++) f[i] += W[i * up.nOut + j] * above[j];
  }
  return f;
}

/**
 * Relaxes one example (free phase) from `init` (zeros if omitted) until the largest change of a
 * step is ≤ tol; throws if `maxSteps` do not get there (a reference that did not converge is no reference).
 */
export function refConvRelax(net: RefConvNet, x: ArrayLike<number>, opts: { tol: number; maxSteps: number; init?: Float64Array[] }): Float64Array[] {
  const xs = Float64Array.from(x);
  const L = net.layers.length;
  let s = opts.init ? opts.init.map((a) => a.slice()) : net.layers.map((l) => new Float64Array(size(l)));
  const sig = net.spec.sigma;
  for (let t = 0; t < opts.maxSteps; t++) {
    const old = s.map((a) => a.slice());
    if (net.spec.schedule === 'synchronous') {
      s = s.map((_, i) => field(net, xs, old, i + 1).map(sig));
    } else {
      for (const parity of [1, 0]) for (let k = 1; k <= L; k++) if (k % 2 === parity) s[k - 1] = field(net, xs, s, k).map(sig);
    }
    let change = 0;
    s.forEach((a, i) => a.forEach((v, j) => (change = Math.max(change, Math.abs(v - old[i][j])))));
    if (change <= opts.tol) return s;
  }
  throw new Error(`reference convnet: no fixed point within ${opts.maxSteps} steps`);
}

/** Mean cross-entropy of the readout at given output states. */
function meanCe(net: RefConvNet, outs: Float64Array[], ys: ArrayLike<number>[]): number {
  let total = 0;
  outs.forEach((out, e) => {
    const p = softmax(logits(net, out));
    for (let c = 0; c < net.spec.classes; c++) if (ys[e][c]) total -= ys[e][c] * Math.log(p[c]);
  });
  return total / outs.length;
}

/**
 * The true gradient ∂L/∂θ of L = mean CE at the free fixed point, every parameter by central
 * finite differences (float64). Each probe relaxes from the unperturbed fixed point (same basin,
 * few steps) to `tol`.
 */
export function refConvTrueGradient(
  net: RefConvNet,
  xs: ArrayLike<number>[],
  ys: ArrayLike<number>[],
  opts: { tol?: number; maxSteps?: number; h?: number } = {},
): Record<string, Float64Array> {
  const tol = opts.tol ?? 1e-13;
  const maxSteps = opts.maxSteps ?? 5000;
  const h = opts.h ?? 1e-6;
  const fixed = xs.map((x) => refConvRelax(net, x, { tol, maxSteps }));
  const loss = () =>
    meanCe(
      net,
      xs.map((x, e) => refConvRelax(net, x, { tol, maxSteps, init: fixed[e] }).at(-1)!),
      ys,
    );
  const out: Record<string, Float64Array> = {};
  for (const [name, p] of Object.entries(net.params)) {
    out[name] = p.map((v0, i) => {
      p[i] = v0 + h;
      const up = loss();
      p[i] = v0 - h;
      const down = loss();
      p[i] = v0;
      return (up - down) / (2 * h);
    });
  }
  return out;
}
