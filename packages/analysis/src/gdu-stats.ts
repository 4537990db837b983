import type { GduKind, GduResult, GduTrace } from './gdu.js';

/** How well EP's increments follow BPTT's gradients over one group of components. */
export interface GduStats {
  name: string;
  kind: GduKind;
  layer: number;
  /** Components compared: those not negligible (see `floor`). */
  components: number;
  /** All components of the group. */
  total: number;
  /** Mean over components of the normalised RMSE sqrt(Σ_k (Δ−∇)² / max(Σ_k Δ², Σ_k ∇²)). */
  rmse: number;
  /** Largest normalised RMSE of one component. */
  maxRmse: number;
  /** Share of components whose total update over the K steps, Σ_k Δ and Σ_k ∇, has the same sign. */
  signAgreement: number;
}

/**
 * Per-component normalised RMSE between ep and bptt (K × size records): 0 is a perfect match,
 * 1 is as far apart as one of them is large. NaN for a component that is zero in both.
 */
export function componentRmse(ep: Float32Array, bptt: Float32Array, size: number): Float64Array {
  const K = ep.length / size;
  const out = new Float64Array(size);
  for (let c = 0; c < size; c++) {
    let diff = 0;
    let ne = 0;
    let nb = 0;
    for (let k = 0; k < K; k++) {
      const e = ep[k * size + c];
      const b = bptt[k * size + c];
      diff += (e - b) ** 2;
      ne += e * e;
      nb += b * b;
    }
    const den = Math.max(ne, nb);
    out[c] = den > 0 ? Math.sqrt(diff / den) : Number.NaN;
  }
  return out;
}

/**
 * Components whose size, sqrt(max(Σ_k Δ², Σ_k ∇²)), is below `floor` times the largest of their
 * group are left out: they are zero up to float32 rounding (a unit clipped at 0 for the whole
 * batch, an input pixel that is 0 in every example), where EP's finite differences can only
 * show noise, and they do not matter for learning. Default floor 1e-3.
 */
export interface StatsOptions {
  floor?: number;
}

export function traceStats(tr: GduTrace, opts: StatsOptions = {}): GduStats {
  const floor = opts.floor ?? 1e-3;
  const rmse = componentRmse(tr.ep, tr.bptt, tr.size);
  const K = tr.ep.length / tr.size;
  const size = new Float64Array(tr.size);
  let largest = 0;
  for (let c = 0; c < tr.size; c++) {
    let ne = 0;
    let nb = 0;
    for (let k = 0; k < K; k++) {
      ne += tr.ep[k * tr.size + c] ** 2;
      nb += tr.bptt[k * tr.size + c] ** 2;
    }
    size[c] = Math.sqrt(Math.max(ne, nb));
    largest = Math.max(largest, size[c]);
  }
  let n = 0;
  let sum = 0;
  let max = 0;
  let agree = 0;
  for (let c = 0; c < tr.size; c++) {
    if (Number.isNaN(rmse[c]) || size[c] === 0 || size[c] < floor * largest) continue;
    n++;
    sum += rmse[c];
    max = Math.max(max, rmse[c]);
    let te = 0;
    let tb = 0;
    for (let k = 0; k < K; k++) {
      te += tr.ep[k * tr.size + c];
      tb += tr.bptt[k * tr.size + c];
    }
    if (Math.sign(te) === Math.sign(tb)) agree++;
  }
  return {
    name: tr.name,
    kind: tr.kind,
    layer: tr.layer,
    components: n,
    total: tr.size,
    rmse: n ? sum / n : Number.NaN,
    maxRmse: n ? max : Number.NaN,
    signAgreement: n ? agree / n : Number.NaN,
  };
}

/** One row per trace: each layer's neurons, then its weights and biases. */
export function gduStats(result: GduResult, opts: StatsOptions = {}): GduStats[] {
  return result.traces.map((t) => traceStats(t, opts));
}

/** The table `eqprop gdu` prints. */
export function formatGduTable(stats: GduStats[]): string {
  const rows = [
    ['layer', 'group', 'kind', 'components', 'RMSE (mean)', 'RMSE (max)', 'sign agreement'],
    ...stats.map((s) => [
      String(s.layer),
      s.name,
      s.kind,
      `${s.components}/${s.total}`,
      fmt(s.rmse),
      fmt(s.maxRmse),
      Number.isNaN(s.signAgreement) ? '—' : `${(100 * s.signAgreement).toFixed(1)} %`,
    ]),
  ];
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const line = (r: string[]) => r.map((c, j) => (j < 3 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function fmt(x: number): string {
  if (Number.isNaN(x)) return '—';
  return x < 1e-3 && x > 0 ? x.toExponential(2) : x.toFixed(4);
}
