/**
 * An independent float64 implementation of a layered EP network in plain TypeScript (no tfjs),
 * used only by tests: the tfjs code must agree with it, and its finite differences give the
 * true gradient of the loss at equilibrium.
 */
export interface RefNet {
  sizes: number[]; // [input, hidden…, output]
  W: number[][][]; // W[k]: sizes[k] × sizes[k+1]
  b: number[][]; // b[k]: bias of layer k+1
  /**
   * A cross-entropy readout outside the energy (Laborieux et al. 2021): C = CE(softmax(s_L W + b), y),
   * W: sizes[L] × classes. Without it the cost is C = ½‖s_L − y‖².
   */
  readout?: { W: number[][]; b: number[] };
}

export type RefForm = { kind: 'hopfield-gd'; eps: number } | { kind: 'primitive-fp'; gain: number; centre: number; schedule: 'synchronous' | 'alternating' };

const clip = (v: number) => Math.min(1, Math.max(0, v));

/** Field −∂E/∂a_k on free layer k (1-based) of one example. */
function field(net: RefNet, x: number[], s: number[][], k: number, beta: number, y: number[]): number[] {
  const acts = [x, ...s];
  const n = net.sizes[k];
  const f = net.b[k - 1].slice();
  const below = acts[k - 1];
  for (let j = 0; j < n; j++) for (let i = 0; i < below.length; i++) f[j] += below[i] * net.W[k - 1][i][j];
  if (k < net.sizes.length - 1) {
    const above = acts[k + 1];
    for (let j = 0; j < n; j++) for (let i = 0; i < above.length; i++) f[j] += net.W[k][j][i] * above[i];
  } else if (beta !== 0 && net.readout) {
    // −β ∂C/∂s_L = −β (softmax(z) − y) Woutᵀ
    const p = softmax(readoutLogits(net, s[k - 1]));
    const W = net.readout.W;
    for (let j = 0; j < n; j++) for (let c = 0; c < p.length; c++) f[j] -= beta * (p[c] - y[c]) * W[j][c];
  } else if (beta !== 0) {
    for (let j = 0; j < n; j++) f[j] += beta * (y[j] - s[k - 1][j]);
  }
  return f;
}

function readoutLogits(net: RefNet, out: number[]): number[] {
  const { W, b } = net.readout!;
  return b.map((bc, c) => out.reduce((z, v, i) => z + v * W[i][c], bc));
}

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const total = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / total);
}

/** Relaxes one example for `steps` steps from `init` (zeros when omitted). */
export function refRelax(net: RefNet, form: RefForm, x: number[], steps: number, beta = 0, y: number[] = [], init?: number[][]): number[][] {
  const L = net.sizes.length - 1;
  let s = init ? init.map((a) => a.slice()) : net.sizes.slice(1).map((n) => new Array(n).fill(0));
  for (let t = 0; t < steps; t++) {
    if (form.kind === 'hopfield-gd') {
      s = s.map((sk, i) => field(net, x, s, i + 1, beta, y).map((f, j) => clip((1 - form.eps) * sk[j] + form.eps * f)));
    } else {
      const sig = (v: number) => 1 / (1 + Math.exp(-form.gain * (v - form.centre)));
      if (form.schedule === 'synchronous') {
        s = s.map((_, i) => field(net, x, s, i + 1, beta, y).map(sig));
      } else {
        for (const parity of [1, 0]) for (let k = 1; k <= L; k++) if (k % 2 === parity) s[k - 1] = field(net, x, s, k, beta, y).map(sig);
      }
    }
  }
  return s;
}

/** Mean over the batch of C at the free equilibrium: ½‖s_L − y‖², or the readout's cross-entropy. */
export function refLoss(net: RefNet, form: RefForm, xs: number[][], ys: number[][], steps: number): number {
  let total = 0;
  xs.forEach((x, e) => {
    const s = refRelax(net, form, x, steps);
    const out = s[s.length - 1];
    if (net.readout) total -= softmax(readoutLogits(net, out)).reduce((acc, p, c) => acc + ys[e][c] * Math.log(p), 0);
    else total += 0.5 * out.reduce((acc, v, j) => acc + (v - ys[e][j]) ** 2, 0);
  });
  return total / xs.length;
}

/** ∂E/∂θ at states (mean over the batch): ∂E/∂W_k = −a_kᵀ a_{k+1}, ∂E/∂b = −a. */
export function refParamGrads(net: RefNet, xs: number[][], states: number[][][]): { W: number[][][]; b: number[][] } {
  const B = xs.length;
  const W = net.W.map((w) => w.map((row) => row.map(() => 0)));
  const b = net.b.map((v) => v.map(() => 0));
  xs.forEach((x, e) => {
    const acts = [x, ...states[e]];
    for (let k = 0; k < net.W.length; k++) {
      for (let i = 0; i < acts[k].length; i++) for (let j = 0; j < acts[k + 1].length; j++) W[k][i][j] -= (acts[k][i] * acts[k + 1][j]) / B;
      for (let j = 0; j < acts[k + 1].length; j++) b[k][j] -= acts[k + 1][j] / B;
    }
  });
  return { W, b };
}

/** Central finite differences of the equilibrium loss: the true gradient (float64), the readout's too if there is one. */
export function refTrueGradient(
  net: RefNet,
  form: RefForm,
  xs: number[][],
  ys: number[][],
  steps: number,
  h = 1e-6,
): { W: number[][][]; b: number[][]; Wout?: number[][]; bout?: number[] } {
  const gW = net.W.map((w) => w.map((row) => row.map(() => 0)));
  const gb = net.b.map((v) => v.map(() => 0));
  const probe = (get: () => number, set: (v: number) => void) => {
    const v0 = get();
    set(v0 + h);
    const up = refLoss(net, form, xs, ys, steps);
    set(v0 - h);
    const down = refLoss(net, form, xs, ys, steps);
    set(v0);
    return (up - down) / (2 * h);
  };
  net.W.forEach((w, k) =>
    w.forEach((row, i) =>
      row.forEach(
        (_, j) =>
          (gW[k][i][j] = probe(
            () => net.W[k][i][j],
            (v) => (net.W[k][i][j] = v),
          )),
      ),
    ),
  );
  net.b.forEach((v, k) =>
    v.forEach(
      (_, j) =>
        (gb[k][j] = probe(
          () => net.b[k][j],
          (u) => (net.b[k][j] = u),
        )),
    ),
  );
  const r = net.readout;
  if (!r) return { W: gW, b: gb };
  const Wout = r.W.map((row, i) =>
    row.map((_, c) =>
      probe(
        () => r.W[i][c],
        (v) => (r.W[i][c] = v),
      ),
    ),
  );
  const bout = r.b.map((_, c) =>
    probe(
      () => r.b[c],
      (v) => (r.b[c] = v),
    ),
  );
  return { W: gW, b: gb, Wout, bout };
}

/**
 * A random net with weights U(±scale) from a tiny LCG (independent of the library's Rng); with
 * `classes`, a CE readout from the last layer to that many classes as well.
 */
export function refRandomNet(sizes: number[], seed: number, scale: number, classes?: number): RefNet {
  let state = seed >>> 0 || 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const W = sizes.slice(1).map((n, k) => Array.from({ length: sizes[k] }, () => Array.from({ length: n }, () => (2 * rand() - 1) * scale)));
  const b = sizes.slice(1).map((n) => Array.from({ length: n }, () => (2 * rand() - 1) * scale));
  if (!classes) return { sizes, W, b };
  const readout = {
    W: Array.from({ length: sizes[sizes.length - 1] }, () => Array.from({ length: classes }, () => (2 * rand() - 1) * scale)),
    b: Array.from({ length: classes }, () => (2 * rand() - 1) * scale),
  };
  return { sizes, W, b, readout };
}
