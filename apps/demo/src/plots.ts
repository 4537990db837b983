const SVG = 'http://www.w3.org/2000/svg';

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

export interface ChartOptions {
  xLabel: string;
  yLabel: string;
  yRange?: [number, number];
  /** Formats tick values. */
  format?: (v: number) => string;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Redraws `svg` (viewBox 0 0 400 220) as a line chart with three y ticks and a legend. */
export function lineChart(svg: SVGSVGElement, series: Series[], opts: ChartOptions): void {
  const [W, H] = [400, 220];
  const m = { l: 66, r: 10, t: 26, b: 34 };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  let [x0, x1] = all.length ? [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))] : [0, 1];
  let [y0, y1] = opts.yRange ?? (all.length ? [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))] : [0, 1]);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  // enough decimals to tell the three ticks apart
  const decimals = Math.min(6, Math.max(0, 1 - Math.floor(Math.log10((y1 - y0) / 2))));
  const fmt = opts.format ?? ((v: number) => (Object.is(Math.round(v * 10 ** decimals), -0) ? 0 : v).toFixed(decimals));
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  svg.append(el('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: 'frame' }));
  for (const v of [y0, (y0 + y1) / 2, y1]) {
    svg.append(el('line', { x1: m.l, x2: W - m.r, y1: py(v), y2: py(v), class: 'grid' }));
    svg.append(el('text', { x: m.l - 4, y: py(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(v)));
  }
  svg.append(el('text', { x: m.l, y: H - m.b + 14, class: 'tick' }, String(Math.round(x0))));
  svg.append(el('text', { x: W - m.r, y: H - m.b + 14, 'text-anchor': 'end', class: 'tick' }, String(Math.round(x1))));
  svg.append(el('text', { x: (m.l + W - m.r) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis' }, opts.xLabel));
  const yMid = (m.t + H - m.b) / 2;
  svg.append(el('text', { x: 12, y: yMid, 'text-anchor': 'middle', class: 'axis', transform: `rotate(-90 12 ${yMid})` }, opts.yLabel));
  let lx = m.l;
  for (const s of series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length) {
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
      svg.append(el('path', { d, stroke: s.color, class: s.dashed ? 'line dashed' : 'line' }));
      if (pts.length === 1) svg.append(el('circle', { cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3, fill: s.color }));
    }
    svg.append(
      s.dashed
        ? el('path', { d: `M${lx},13h10`, stroke: s.color, class: 'legend-key dashed' })
        : el('rect', { x: lx, y: 8, width: 10, height: 10, fill: s.color }),
    );
    const label = el('text', { x: lx + 14, y: 17, class: 'legend' }, s.label);
    svg.append(label);
    lx += 22 + 6.2 * s.label.length;
  }
}

/** Paints rows × cols values in [0, 1] into a canvas of that size (CSS scales it, pixelated). */
export function heatmap(canvas: HTMLCanvasElement, values: ArrayLike<number>, rows: number, cols: number): void {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    const v = Math.min(1, Math.max(0, values[i] ?? 0));
    // dark blue → yellow, readable in both themes
    img.data.set([Math.round(20 + 235 * v), Math.round(30 + 200 * v), Math.round(90 - 60 * v), 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** Draws a 28×28 digit (values in [0, 1]) white on black. */
export function digit(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, side = 28): void {
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
    img.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

export interface Bar {
  value: number;
  /** Ends of the error bar. */
  lo: number;
  hi: number;
}

export interface BarChartOptions {
  xLabel: string;
  yLabel: string;
  /** One entry per group (x axis): its label and one bar per series. */
  groups: { label: string; bars: Bar[] }[];
  series: { label: string; color: string }[];
  /** Dashed lines through the group centres (one value per group). */
  lines?: { label: string; color: string; values: number[] }[];
}

/**
 * Redraws `svg` (viewBox 0 0 640 260) as grouped bars with error bars on a log y axis (decade
 * ticks): bars rise from the axis floor, error bars span [lo, hi] (clipped to the axis).
 */
export function barChart(svg: SVGSVGElement, opts: BarChartOptions): void {
  const [W, H] = [640, 260];
  const m = { l: 60, r: 10, t: 26, b: 40 };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  // decades from the smallest bar to the highest error bar; lines and error bars beyond are clipped
  const positive = (v: number) => v > 0 && Number.isFinite(v);
  const values = opts.groups.flatMap((g) => g.bars.map((b) => b.value)).filter(positive);
  const tops = [...values, ...opts.groups.flatMap((g) => g.bars.map((b) => b.hi)).filter(positive)];
  const lo = values.length ? Math.floor(Math.log10(Math.min(...values))) : -3;
  const hi = Math.max(tops.length ? Math.ceil(Math.log10(Math.max(...tops))) : 0, lo + 1);
  const py = (v: number) => H - m.b - ((Math.log10(Math.min(Math.max(v, 10 ** lo), 10 ** hi)) - lo) / (hi - lo)) * (H - m.t - m.b);
  svg.append(el('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: 'frame' }));
  for (let e = lo; e <= hi; e++) {
    svg.append(el('line', { x1: m.l, x2: W - m.r, y1: py(10 ** e), y2: py(10 ** e), class: 'grid' }));
    svg.append(el('text', { x: m.l - 4, y: py(10 ** e) + 4, 'text-anchor': 'end', class: 'tick' }, `1e${e}`));
  }
  const slot = (W - m.l - m.r) / Math.max(opts.groups.length, 1);
  const barW = (slot * 0.8) / Math.max(opts.series.length, 1);
  const centre = (i: number) => m.l + (i + 0.5) * slot;
  opts.groups.forEach((g, i) => {
    svg.append(el('text', { x: centre(i), y: H - m.b + 14, 'text-anchor': 'middle', class: 'tick' }, g.label));
    g.bars.forEach((b, j) => {
      if (!(b.value > 0)) return;
      const x = centre(i) - slot * 0.4 + j * barW;
      const top = py(b.value);
      svg.append(el('rect', { x, y: top, width: barW * 0.9, height: H - m.b - top, fill: opts.series[j].color, class: 'bar' }));
      const xm = x + barW * 0.45;
      const [y0, y1] = [py(b.lo), py(b.hi)];
      svg.append(el('path', { d: `M${xm},${y0}V${y1}M${xm - 3},${y0}h6M${xm - 3},${y1}h6`, class: 'errorbar' }));
    });
  });
  for (const line of opts.lines ?? []) {
    // points below the axis are left out (the line stops there), not drawn along the floor
    let pen = 'M';
    let d = '';
    line.values.forEach((v, i) => {
      if (v >= 10 ** lo && v <= 10 ** hi) {
        d += `${pen}${centre(i).toFixed(1)},${py(v).toFixed(1)}`;
        pen = 'L';
      } else pen = 'M';
    });
    if (d) svg.append(el('path', { d, stroke: line.color, class: 'line dashed' }));
  }
  svg.append(el('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis' }, opts.xLabel));
  const yMid = (m.t + H - m.b) / 2;
  svg.append(el('text', { x: 12, y: yMid, 'text-anchor': 'middle', class: 'axis', transform: `rotate(-90 12 ${yMid})` }, opts.yLabel));
  let lx = m.l;
  for (const s of [...opts.series.map((s) => ({ ...s, dashed: false })), ...(opts.lines ?? []).map((l) => ({ ...l, dashed: true }))]) {
    svg.append(
      s.dashed
        ? el('path', { d: `M${lx},13h10`, stroke: s.color, class: 'legend-key dashed' })
        : el('rect', { x: lx, y: 8, width: 10, height: 10, fill: s.color }),
    );
    svg.append(el('text', { x: lx + 14, y: 17, class: 'legend' }, s.label));
    lx += 22 + 6.2 * s.label.length;
  }
}
