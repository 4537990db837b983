import { ConfigError } from '@eqprop/core';

/** One line of a plot. Points where x or y is not finite (or not > 0 on a log axis) break the line. */
export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  dashed?: boolean;
  /** A dotted line (reference levels, noise floors); `dashed` wins when both are set. */
  dotted?: boolean;
  /** A dot at every point (for sparse series: a sweep's grid). */
  markers?: boolean;
  /** A shaded band around the line, lo[i] … hi[i] (e.g. mean ± std); same points as x. */
  band?: { lo: ArrayLike<number>; hi: ArrayLike<number> };
  /** Any SVG colour; by default the next colour of a 10-colour palette. */
  color?: string;
}

/** A labelled vertical line across the plot area (a threshold, a chosen value). */
export interface VerticalLine {
  x: number;
  label: string;
  color?: string;
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  /** Vertical reference lines, each labelled along its length. */
  vlines?: VerticalLine[];
  /** Pixels; default 720 × 420 (the legend sits right of the plot area). */
  width?: number;
  height?: number;
}

/** The palette of matplotlib (tab10): distinct, and readable on white. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Width of one character of the 15 px bold title, generous (a wide glyph of Helvetica/Noto Sans). */
const TITLE_CHAR_W = 8.6;

/** Words packed into lines of at most `max` characters; a longer word is cut. */
export function wrapWords(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    for (let w = word; w.length > 0; w = w.slice(max)) {
      const piece = w.slice(0, max);
      if (!line) line = piece;
      else if (line.length + 1 + piece.length <= max) line += ` ${piece}`;
      else {
        lines.push(line);
        line = piece;
      }
    }
  }
  return line ? [...lines, line] : lines.length ? lines : [''];
}

/**
 * A line plot as a standalone SVG document (no dependencies, no scripts): title, labelled axes
 * with ticks, grid, optional log axes, one path per series, and a legend.
 */
export function linePlot(opts: LinePlotOptions): string {
  const { series, logX = false, logY = false } = opts;
  for (const s of series) {
    if (s.x.length !== s.y.length) throw new ConfigError(`series "${s.name}" has ${s.x.length} x values but ${s.y.length} y values`);
    if (s.band && (s.band.lo.length !== s.x.length || s.band.hi.length !== s.x.length)) {
      throw new ConfigError(`series "${s.name}" has ${s.x.length} points but a band of ${s.band.lo.length} / ${s.band.hi.length}`);
    }
  }
  const vlines = opts.vlines ?? [];
  const width = opts.width ?? 720;
  const charW = 6.6;
  const legendW = series.length ? Math.min(260, 40 + charW * Math.max(...series.map((s) => s.name.length))) : 0;
  // a long title wraps onto more lines (and the plot moves down) instead of running off the page
  const titleLines = wrapWords(opts.title, Math.floor((width - 20) / TITLE_CHAR_W));
  const titleH = 18 * (titleLines.length - 1);
  const height = Math.max(opts.height ?? 420, 90 + 18 * series.length) + titleH;
  const m = { left: 78, right: 20 + legendW, top: 42 + titleH, bottom: 56 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;

  const okX = (v: number) => Number.isFinite(v) && (!logX || v > 0);
  const okY = (v: number) => Number.isFinite(v) && (!logY || v > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      if (okX(s.x[i]) && okY(s.y[i])) {
        xs.push(s.x[i]);
        ys.push(s.y[i]);
      }
      if (s.band && okX(s.x[i])) for (const v of [s.band.lo[i], s.band.hi[i]]) if (okY(v)) ys.push(v);
    }
  }
  for (const v of vlines) if (okX(v.x)) xs.push(v.x);
  const xAxis = makeAxis(xs, logX);
  const yAxis = makeAxis(ys, logY);
  const px = (v: number) => m.left + xAxis.frac(v) * pw;
  const py = (v: number) => m.top + (1 - yAxis.frac(v)) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${esc(opts.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...titleLines.map((line, i) => `<text x="${width / 2}" y="${24 + 18 * i}" text-anchor="middle" font-size="15" font-weight="bold">${esc(line)}</text>`),
  );
  // grid and ticks
  for (const t of xAxis.ticks) {
    const x = r(px(t));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${esc(xAxis.label(t))}</text>`);
  }
  for (const t of yAxis.ticks) {
    const y = r(py(t));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e6e6e6"/>`);
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${m.left - 8}" y="${y + 4}" text-anchor="end">${esc(yAxis.label(t))}</text>`);
  }
  if (!logY && yAxis.lo < 0 && yAxis.hi > 0) {
    out.push(`<line x1="${m.left}" y1="${r(py(0))}" x2="${m.left + pw}" y2="${r(py(0))}" stroke="#999"/>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${height - 14}" text-anchor="middle" font-size="13">${esc(opts.xLabel)}</text>`);
  out.push(`<text x="18" y="${m.top + ph / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${m.top + ph / 2})">${esc(opts.yLabel)}</text>`);
  // lines, clipped to the plot area (an id of its own, so that several plots can share one page)
  const clip = `plot-${hash(opts.title + series.map((s) => s.name).join('|'))}`;
  out.push(`<clipPath id="${clip}"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  // bands first, under every line: one closed path per run of points where both bounds show
  series.forEach((s, i) => {
    if (!s.band) return;
    const { lo, hi } = s.band;
    let run: number[] = [];
    const flush = () => {
      if (run.length > 1) {
        const top = run.map((j, n) => `${n ? 'L' : 'M'}${r(px(s.x[j]))} ${r(py(hi[j]))}`).join('');
        const bottom = run
          .slice()
          .reverse()
          .map((j) => `L${r(px(s.x[j]))} ${r(py(lo[j]))}`)
          .join('');
        out.push(
          `<path d="${top}${bottom}Z" fill="${esc(s.color ?? PALETTE[i % PALETTE.length])}" fill-opacity="0.15" stroke="none" clip-path="url(#${clip})"/>`,
        );
      }
      run = [];
    };
    for (let j = 0; j < s.x.length; j++) {
      if (okX(s.x[j]) && okY(lo[j]) && okY(hi[j])) run.push(j);
      else flush();
    }
    flush();
  });
  out.push(`<g clip-path="url(#${clip})" fill="none" stroke-width="1.6" stroke-linejoin="round">`);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    let d = '';
    let pen = false;
    for (let j = 0; j < s.x.length; j++) {
      if (!okX(s.x[j]) || !okY(s.y[j])) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${r(px(s.x[j]))} ${r(py(s.y[j]))}`;
      pen = true;
    }
    if (d) out.push(`<path d="${d}" stroke="${esc(color)}"${dash(s)}/>`);
    if (s.markers) {
      for (let j = 0; j < s.x.length; j++) {
        if (okX(s.x[j]) && okY(s.y[j])) out.push(`<circle cx="${r(px(s.x[j]))}" cy="${r(py(s.y[j]))}" r="3" fill="${esc(color)}"/>`);
      }
    }
  });
  out.push('</g>');
  for (const v of vlines) {
    if (!okX(v.x)) continue;
    const x = r(px(v.x));
    const color = esc(v.color ?? '#555');
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="${color}" stroke-width="1.2" stroke-dasharray="2 3"/>`);
    out.push(
      `<text x="${x - 4}" y="${m.top + 6}" text-anchor="end" font-size="11" fill="${color}" transform="rotate(-90 ${x - 4} ${m.top + 6})">${esc(v.label)}</text>`,
    );
  }
  // legend
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const x = m.left + pw + 16;
    const y = m.top + 10 + 18 * i;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${esc(color)}" stroke-width="1.6"${dash(s)}/>`);
    if (s.markers) out.push(`<circle cx="${x + 12}" cy="${y}" r="3" fill="${esc(color)}"/>`);
    out.push(`<text x="${x + 30}" y="${y + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  frac(v: number): number;
  label(v: number): string;
}

/** A linear axis on rounded bounds with 1-2-5 steps, or a log axis on whole decades. */
function makeAxis(values: number[], log: boolean): Axis {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!values.length) [lo, hi] = log ? [1, 10] : [0, 1];
  if (log) {
    let a = Math.floor(Math.log10(lo));
    let b = Math.ceil(Math.log10(hi));
    if (a === b) [a, b] = [a - 1, b + 1];
    const ticks: number[] = [];
    const every = Math.max(1, Math.ceil((b - a) / 8));
    for (let e = a; e <= b; e += every) ticks.push(10 ** e);
    return {
      lo: 10 ** a,
      hi: 10 ** b,
      ticks,
      frac: (v) => (Math.log10(v) - a) / (b - a),
      label: (v) => {
        const e = Math.round(Math.log10(v));
        return e >= -2 && e <= 3 ? String(Number(v.toPrecision(1))) : `1e${e}`;
      },
    };
  }
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const a = Math.floor(lo / step) * step;
  const b = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let i = 0; a + i * step <= b + step * 1e-9; i++) ticks.push(a + i * step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const big = Math.max(Math.abs(a), Math.abs(b));
  const sci = big >= 1e5 || decimals > 4;
  return {
    lo: a,
    hi: b,
    ticks,
    frac: (v) => (v - a) / (b - a),
    label: (v) => {
      if (Math.abs(v) < step * 1e-6) return '0';
      return sci ? v.toExponential(Math.max(0, Math.floor(Math.log10(Math.abs(v))) - Math.floor(Math.log10(step)))) : v.toFixed(decimals);
    },
  };
}

function dash(s: Series): string {
  return s.dashed ? ' stroke-dasharray="6 4"' : s.dotted ? ' stroke-dasharray="1.5 3"' : '';
}

/** FNV-1a, in base 36. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36);
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
