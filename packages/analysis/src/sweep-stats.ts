/** Mean and spread of one measurement over repeats (batches, seeds). */
export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

/** Mean ± std of the finite values (NaN mean when there are none). */
export function spread(values: ArrayLike<number>): Spread {
  const v = Array.from(values).filter(Number.isFinite);
  const n = v.length;
  if (!n) return { mean: Number.NaN, std: Number.NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** A straight line fitted in log10–log10 space: y ≈ 10^intercept · x^slope. */
export interface LogLogFit {
  slope: number;
  intercept: number;
  /** Coefficient of determination of the fit in log space. */
  r2: number;
  /** The x range the fit used and how many points. */
  from: number;
  to: number;
  points: number;
}

/** Least squares of log10 y on log10 x over the points where both are > 0; null with fewer than two. */
export function fitLogLog(xs: ArrayLike<number>, ys: ArrayLike<number>): LogLogFit | null {
  const lx: number[] = [];
  const ly: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] > 0 && ys[i] > 0 && Number.isFinite(xs[i]) && Number.isFinite(ys[i])) {
      lx.push(Math.log10(xs[i]));
      ly.push(Math.log10(ys[i]));
    }
  }
  const n = lx.length;
  if (n < 2) return null;
  const mx = lx.reduce((a, b) => a + b, 0) / n;
  const my = ly.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (lx[i] - mx) * (ly[i] - my);
    sxx += (lx[i] - mx) ** 2;
    syy += (ly[i] - my) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2, from: 10 ** Math.min(...lx), to: 10 ** Math.max(...lx), points: n };
}

/** A log-spaced grid from lo to hi (both included) with `perDecade` points per decade. */
export function logGrid(lo: number, hi: number, perDecade: number): number[] {
  const decades = Math.log10(hi / lo);
  const n = Math.max(1, Math.round(decades * perDecade));
  return Array.from({ length: n + 1 }, (_, i) => Number((lo * 10 ** ((i * decades) / n)).toPrecision(6)));
}
