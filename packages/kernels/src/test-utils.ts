// Helpers for this package's tests (not exported from index.ts).

/** max |a − b| / max |b|: the relative gap the fused path's tests bound. */
export function relGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let gap = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    gap = Math.max(gap, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return gap / scale;
}
