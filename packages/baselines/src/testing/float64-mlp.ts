/**
 * Test-only: a float64 layered network in plain TypeScript (no tfjs), mirroring
 * packages/learning/src/testing/reference-network.ts (baselines may not import learning).
 * Central finite differences of its equilibrium loss are the true gradient the tfjs code is
 * checked against.
 */
import type { EnergyNetwork } from '@eqprop/energies';

export interface F64Net {
  sizes: number[];
  W: number[][][]; // W[k]: sizes[k] × sizes[k+1]
  b: number[][]; // b[k]: bias of layer k+1
  /** A CE readout outside the energy: C = CE(softmax(s_L W + b), y), W: sizes[L] × classes. Without it C = ½‖s_L − y‖². */
  readout?: { W: number[][]; b: number[] };
}

export type F64Form = { kind: 'hopfield-gd'; eps: number } | { kind: 'primitive-fp'; gain: number; centre: number };

const rows = (v: ArrayLike<number>, r: number, c: number) => Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => v[i * c + j]));

/**
 * The weights of a layered MLP (W0_1, b1, W1_2, …) as float64 arrays; `sizes` are the layers of
 * the energy (input … last free layer), and a CE readout (Wout, bout) comes along if the net has one.
 */
export function toF64(net: EnergyNetwork, sizes: number[]): F64Net {
  const W = sizes.slice(1).map((n, k) => rows(net.params[`W${k}_${k + 1}`].dataSync(), sizes[k], n));
  const b = sizes.slice(1).map((_, k) => Array.from(net.params[`b${k + 1}`].dataSync()));
  const { Wout, bout } = net.params;
  if (!Wout) return { sizes, W, b };
  const [n, classes] = Wout.shape as [number, number];
  return { sizes, W, b, readout: { W: rows(Wout.dataSync(), n, classes), b: Array.from(bout.dataSync()) } };
}

/** Mean over the batch of the readout's cross-entropy at outputs a_L (one per example). */
export function f64CrossEntropy(readout: { W: number[][]; b: number[] }, outs: number[][], ys: number[][]): number {
  let total = 0;
  outs.forEach((out, e) => {
    const z = readout.b.map((bc, c) => out.reduce((acc, v, i) => acc + v * readout.W[i][c], bc));
    const m = Math.max(...z);
    const logSum = m + Math.log(z.reduce((acc, v) => acc + Math.exp(v - m), 0));
    total -= z.reduce((acc, v, c) => acc + ys[e][c] * (v - logSum), 0);
  });
  return total / outs.length;
}

function field(net: F64Net, x: number[], s: number[][], k: number): number[] {
  const acts = [x, ...s];
  const f = net.b[k - 1].slice();
  for (let j = 0; j < f.length; j++) for (let i = 0; i < acts[k - 1].length; i++) f[j] += acts[k - 1][i] * net.W[k - 1][i][j];
  if (k < net.sizes.length - 1) for (let j = 0; j < f.length; j++) for (let i = 0; i < acts[k + 1].length; i++) f[j] += net.W[k][j][i] * acts[k + 1][i];
  return f;
}

/** `steps` synchronous steps from zero (gradient descent with clipping, or s = σ(field)). */
export function f64Relax(net: F64Net, form: F64Form, x: number[], steps: number): number[][] {
  let s = net.sizes.slice(1).map((n) => new Array<number>(n).fill(0));
  const sig = (v: number) => (form.kind === 'primitive-fp' ? 1 / (1 + Math.exp(-form.gain * (v - form.centre))) : v);
  for (let t = 0; t < steps; t++) {
    s = s.map((sk, i) =>
      field(net, x, s, i + 1).map((f, j) => (form.kind === 'hopfield-gd' ? Math.min(1, Math.max(0, (1 - form.eps) * sk[j] + form.eps * f)) : sig(f))),
    );
  }
  return s;
}

/** Mean over the batch of C at the state after `steps` steps: ½‖s_L − y‖², or the readout's cross-entropy. */
export function f64Loss(net: F64Net, form: F64Form, xs: number[][], ys: number[][], steps: number): number {
  const outs = xs.map((x) => f64Relax(net, form, x, steps).at(-1)!);
  if (net.readout) return f64CrossEntropy(net.readout, outs, ys);
  let total = 0;
  outs.forEach((out, e) => (total += 0.5 * out.reduce((acc, v, j) => acc + (v - ys[e][j]) ** 2, 0)));
  return total / xs.length;
}

/** Central finite differences of f64Loss for every weight and bias (the readout's too), keyed like the tfjs parameters. */
export function f64TrueGradient(net: F64Net, form: F64Form, xs: number[][], ys: number[][], steps: number, h = 1e-6): Record<string, number[]> {
  const probe = (get: () => number, set: (v: number) => void) => {
    const v0 = get();
    set(v0 + h);
    const up = f64Loss(net, form, xs, ys, steps);
    set(v0 - h);
    const down = f64Loss(net, form, xs, ys, steps);
    set(v0);
    return (up - down) / (2 * h);
  };
  const out: Record<string, number[]> = {};
  net.W.forEach((w, k) => {
    out[`W${k}_${k + 1}`] = w.flatMap((row, i) =>
      row.map((_, j) =>
        probe(
          () => net.W[k][i][j],
          (v) => (net.W[k][i][j] = v),
        ),
      ),
    );
    out[`b${k + 1}`] = net.b[k].map((_, j) =>
      probe(
        () => net.b[k][j],
        (v) => (net.b[k][j] = v),
      ),
    );
  });
  const r = net.readout;
  if (r) {
    out.Wout = r.W.flatMap((row, i) =>
      row.map((_, c) =>
        probe(
          () => r.W[i][c],
          (v) => (r.W[i][c] = v),
        ),
      ),
    );
    out.bout = r.b.map((_, c) =>
      probe(
        () => r.b[c],
        (v) => (r.b[c] = v),
      ),
    );
  }
  return out;
}
