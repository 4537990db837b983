import type { BetaSweepSummary } from './beta-sweep.js';
import { linePlot, PALETTE, type Series, type VerticalLine } from './line-plot.js';

export interface NamedPlot {
  /** File-name friendly. */
  name: string;
  svg: string;
}

/**
 * The β sweep as two plots: the relative error of each estimator against the true gradient on
 * log-log axes (mean ± std over batches, the fitted slope dashed, the float32 noise floor n/β
 * dotted, and where noise takes over marked), and their cosine similarity.
 */
export function betaSweepPlots(summary: BetaSweepSummary, opts: { title: string }): NamedPlot[] {
  const { betas, noise } = summary;
  const err: Series[] = [];
  const cos: Series[] = [];
  const vlines: VerticalLine[] = [];
  summary.estimators.forEach((e, i) => {
    const color = PALETTE[i % PALETTE.length];
    const mean = e.relError.map((s) => s.mean);
    // on a log axis the band's lower edge is cut at a tenth of the mean (mean − std may be ≤ 0)
    const lo = e.relError.map((s) => Math.max(s.mean - s.std, s.mean / 10));
    const hi = e.relError.map((s) => s.mean + s.std);
    err.push({ name: `${e.estimator} (mean ± std)`, x: betas, y: mean, band: { lo, hi }, markers: true, color });
    if (e.fit) {
      const f = e.fit;
      const at = (b: number) => 10 ** (f.intercept + f.slope * Math.log10(b));
      err.push({ name: `${e.estimator} fit: slope ${f.slope.toFixed(2)}`, x: [f.from, f.to], y: [at(f.from), at(f.to)], dashed: true, color });
    }
    const c = e.cosine;
    cos.push({
      name: e.estimator,
      x: betas,
      y: c.map((s) => s.mean),
      band: { lo: c.map((s) => s.mean - s.std), hi: c.map((s) => Math.min(1, s.mean + s.std)) },
      markers: true,
      color,
    });
    if (e.noiseOnset !== null) vlines.push({ x: e.noiseOnset, label: `float32 noise ≤ here: ${e.estimator}`, color });
  });
  if (Number.isFinite(noise.mean)) {
    err.push({
      name: `float32 noise floor n/β (n = ${noise.mean.toExponential(1)})`,
      x: betas,
      y: betas.map((b) => noise.mean / b),
      dotted: true,
      color: '#555',
    });
  }
  return [
    {
      name: 'beta-sweep-error',
      svg: linePlot({
        title: `${opts.title}: EP estimate vs true gradient (RBP)`,
        xLabel: 'β (nudging strength)',
        yLabel: 'relative error ‖ĝ − ∇L‖ / ‖∇L‖',
        series: err,
        logX: true,
        logY: true,
        vlines: mergeVlines(vlines),
        width: 960,
        height: 480,
      }),
    },
    {
      name: 'beta-sweep-cosine',
      svg: linePlot({
        title: `${opts.title}: cosine similarity with the true gradient`,
        xLabel: 'β (nudging strength)',
        yLabel: 'cos(ĝ, ∇L)',
        series: cos,
        logX: true,
      }),
    },
  ];
}

/** One line per x: estimators with the same noise onset share it. */
function mergeVlines(lines: VerticalLine[]): VerticalLine[] {
  const byX = new Map<number, VerticalLine[]>();
  for (const l of lines) byX.set(l.x, [...(byX.get(l.x) ?? []), l]);
  return [...byX.values()].map((ls) =>
    ls.length === 1 ? ls[0] : { x: ls[0].x, label: `float32 noise ≤ here: ${ls.map((l) => l.label.split(': ')[1]).join(', ')}`, color: '#555' },
  );
}

/** The sweep's findings as a markdown table, one row per estimator. */
export function formatBetaSweepTable(summary: BetaSweepSummary): string {
  const g = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toExponential(digits));
  const rows = summary.estimators.map((e) => {
    const i = e.betas.indexOf(e.best.beta);
    const fit = e.fit ? `${e.fit.slope.toFixed(2)} (β ${g(e.fit.from, 1)} … ${g(e.fit.to, 1)}, ${e.fit.points} points)` : '—';
    return `| ${e.estimator} | ${g(e.best.beta)} | ${g(e.best.relError)} ± ${g(e.relError[i].std, 1)} | ${e.best.cosine.toFixed(6)} | ${fit} | ${g(e.noiseOnset)} |`;
  });
  return [
    '| estimator | β minimising the error | relative error there (mean ± std) | cosine there | log-log slope (fit range) | float32 noise at β ≤ |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
