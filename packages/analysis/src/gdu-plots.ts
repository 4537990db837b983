import { ConfigError } from '@eqprop/core';
import type { GduResult, GduTrace } from './gdu.js';
import { linePlot, PALETTE, type Series } from './line-plot.js';

export interface GduPlotOptions {
  /**
   * What to plot: layer numbers (1 … L: that layer's neurons and the parameters feeding it) or
   * group names (`s1`, `W0_1`, `b1`, …). Default: everything.
   */
  layers?: (string | number)[];
  /** Components per plot (default 4), spread over those with the largest BPTT gradients. */
  count?: number;
}

export interface GduPlot {
  /** File-name friendly: `gdu-s1`, `gdu-W0_1`, … */
  name: string;
  trace: string;
  svg: string;
}

/** The traces a plot request names; an unknown name or layer is a ConfigError listing what exists. */
export function selectTraces(traces: GduTrace[], layers?: (string | number)[]): GduTrace[] {
  if (!layers || layers.length === 0) return traces;
  const depth = Math.max(...traces.map((t) => t.layer));
  const picked = new Set<GduTrace>();
  for (const want of layers) {
    const asNumber = typeof want === 'number' ? want : /^\d+$/.test(want.trim()) ? Number(want) : Number.NaN;
    const hits = Number.isNaN(asNumber) ? traces.filter((t) => t.name === String(want).trim()) : traces.filter((t) => t.layer === asNumber);
    if (hits.length === 0) {
      throw new ConfigError(
        `unknown layer "${want}" in the plot request: expected a layer number 1…${depth} or one of ${traces.map((t) => t.name).join(', ')}`,
      );
    }
    hits.forEach((t) => picked.add(t));
  }
  return traces.filter((t) => picked.has(t));
}

/**
 * Plots like Figures 3–5 of Ernoult et al. 2019: for a few components of each group, EP's
 * increments ΔEP(k) (dashed) and −∇BPTT(k) (solid, same colour) over k = 0 … K−1.
 */
export function gduPlots(result: GduResult, opts: GduPlotOptions = {}): GduPlot[] {
  const count = opts.count ?? 4;
  if (!Number.isInteger(count) || count < 1) throw new ConfigError(`components per plot must be a positive integer, got ${count}`);
  const ks = Array.from({ length: result.steps }, (_, k) => k);
  return selectTraces(result.traces, opts.layers).map((tr) => {
    const series: Series[] = [];
    largestComponents(tr, count).forEach((c, i) => {
      const label = componentLabel(tr, c);
      const color = PALETTE[i % PALETTE.length];
      series.push({ name: `−∇BPTT ${label}`, x: ks, y: column(tr.bptt, tr.size, c), color });
      series.push({ name: `ΔEP ${label}`, x: ks, y: column(tr.ep, tr.size, c), color, dashed: true });
    });
    const what = tr.kind === 'neurons' ? `neurons of layer ${tr.layer}` : `${tr.kind} into layer ${tr.layer}`;
    return {
      name: `gdu-${tr.name}`,
      trace: tr.name,
      svg: linePlot({
        title: `${tr.name} (${what}): ΔEP dashed, −∇BPTT solid`,
        xLabel: `k (nudged step of EP = step T−k of BPTT), β = ${result.beta}, T = ${result.freeSteps}`,
        yLabel: tr.kind === 'neurons' ? 'neural update / gradient' : 'parameter update / gradient',
        series,
      }),
    };
  });
}

/**
 * `n` components to draw, in index order: evenly spread over the top quarter of the group by
 * Σ_k ∇² (large enough to read on a shared axis, not all the same few near-copies).
 */
function largestComponents(tr: GduTrace, n: number): number[] {
  const K = tr.bptt.length / tr.size;
  const norm = new Float64Array(tr.size);
  for (let k = 0; k < K; k++) for (let c = 0; c < tr.size; c++) norm[c] += tr.bptt[k * tr.size + c] ** 2;
  const order = Array.from({ length: tr.size }, (_, c) => c).sort((a, b) => norm[b] - norm[a] || a - b);
  const pool = Math.max(Math.min(n, tr.size), Math.ceil(tr.size / 4));
  const picks = new Set<number>();
  for (let i = 0; i < Math.min(n, tr.size); i++) picks.add(order[Math.floor((i * pool) / Math.min(n, tr.size))]);
  return [...picks].sort((a, b) => a - b);
}

function column(data: Float32Array, size: number, c: number): number[] {
  return Array.from({ length: data.length / size }, (_, k) => data[k * size + c]);
}

/** `s1[37]`, `W0_1[12,5]`: the component's index in the group's shape. */
function componentLabel(tr: GduTrace, c: number): string {
  const idx: number[] = [];
  let rest = c;
  for (let d = tr.shape.length - 1; d >= 0; d--) {
    idx.unshift(rest % tr.shape[d]);
    rest = Math.floor(rest / tr.shape[d]);
  }
  return `${tr.name}[${idx.join(',')}]`;
}
