import type { NamedPlot } from './beta-sweep-plots.js';
import { linePlot, type Series } from './line-plot.js';

/** Training error and loss averaged over the batches since the previous point. */
export interface CurvePoint {
  /** Epochs done (fractional: examples seen / training set size). */
  epoch: number;
  trainError: number;
  trainLoss: number;
}

/** An evaluation on the test set (epoch 0: before training). */
export interface EvalPoint {
  epoch: number;
  testError: number;
  testLoss: number;
}

/** One training run: a learner of a comparison, or one grid value of a sweep. */
export interface LearningCurve {
  /** The legend label. */
  name: string;
  train: CurvePoint[];
  test: EvalPoint[];
  /** Wall-clock seconds of training (evaluations excluded). */
  seconds: number;
}

/** Test error per epoch (solid) and training error along the way, as two plots. */
export function learningCurvePlots(curves: readonly LearningCurve[], opts: { title: string; prefix: string; logY?: boolean }): NamedPlot[] {
  const test: Series[] = curves.map((c) => ({ name: c.name, x: c.test.map((p) => p.epoch), y: c.test.map((p) => 100 * p.testError), markers: true }));
  const train: Series[] = curves.map((c) => ({ name: c.name, x: c.train.map((p) => p.epoch), y: c.train.map((p) => 100 * p.trainError) }));
  const plot = (what: string, series: Series[]) =>
    linePlot({ title: `${opts.title}: ${what} error`, xLabel: 'epoch', yLabel: `${what} error (%)`, series, logY: opts.logY });
  return [
    { name: `${opts.prefix}-test-error`, svg: plot('test', test) },
    { name: `${opts.prefix}-train-error`, svg: plot('training', train) },
  ];
}

/** Final and best errors as a markdown table, one row per curve. */
export function formatCurveTable(curves: readonly LearningCurve[], opts: { label: string }): string {
  const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(2)} %`);
  const rows = curves.map((c) => {
    const last = c.test.at(-1);
    const trained = c.test.filter((p) => p.epoch > 0);
    const best = trained.reduce<EvalPoint | undefined>((a, p) => (!a || p.testError < a.testError ? p : a), undefined);
    const epochs = last?.epoch ?? 0;
    return `| ${c.name} | ${pct(last?.testError)} | ${best ? `${pct(best.testError)} (epoch ${best.epoch})` : '—'} | ${pct(c.train.at(-1)?.trainError)} | ${epochs} | ${(c.seconds / Math.max(epochs, 1e-9)).toFixed(1)} |`;
  });
  return [
    `| ${opts.label} | final test error | best test error | final training error | epochs | seconds per epoch |`,
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** A sweep's final test and training errors against the swept value. */
export function sweepResultPlot(
  values: readonly number[],
  curves: readonly LearningCurve[],
  opts: { title: string; xLabel: string; logX?: boolean; name: string },
): NamedPlot {
  const final = (pick: (c: LearningCurve) => number | undefined) => curves.map((c) => 100 * (pick(c) ?? Number.NaN));
  return {
    name: opts.name,
    svg: linePlot({
      title: opts.title,
      xLabel: opts.xLabel,
      yLabel: 'final error (%)',
      logX: opts.logX,
      series: [
        { name: 'test error', x: values, y: final((c) => c.test.at(-1)?.testError), markers: true },
        { name: 'training error (last stretch)', x: values, y: final((c) => c.train.at(-1)?.trainError), markers: true, dashed: true },
      ],
    }),
  };
}
