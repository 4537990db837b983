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
    svg.append(el('rect', { x: lx, y: 8, width: 10, height: 10, fill: s.color }));
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
