import { describe, expect, it } from 'vitest';
import { formatCurveTable, type LearningCurve, learningCurvePlots, sweepResultPlot } from './learning-curves.js';
import { findAll, parseXml, svgTexts } from './svg-xml.js';

const curve = (name: string, errs: number[]): LearningCurve => ({
  name,
  train: errs.slice(1).map((e, i) => ({ epoch: i + 1, trainError: e * 0.9, trainLoss: e })),
  test: errs.map((e, i) => ({ epoch: i, testError: e, testLoss: e })),
  seconds: 12,
});

describe('learning curves', () => {
  const curves = [curve('EP', [0.9, 0.1, 0.05]), curve('backprop (feedforward twin)', [0.9, 0.08, 0.04])];

  it('plots test and training error per learner, titled, with labelled axes and a legend', () => {
    const plots = learningCurvePlots(curves, { title: 'scellier2017-1h', prefix: 'compare' });
    expect(plots.map((p) => p.name)).toEqual(['compare-test-error', 'compare-train-error']);
    const test = parseXml(plots[0].svg);
    const texts = svgTexts(test);
    for (const t of ['scellier2017-1h: test error', 'epoch', 'test error (%)', 'EP', 'backprop (feedforward twin)']) expect(texts).toContain(t);
    expect(findAll(test, 'path')).toHaveLength(2);
    expect(findAll(test, 'circle')).toHaveLength(2 * 3 + 2);
    expect(svgTexts(parseXml(plots[1].svg))).toContain('training error (%)');
  });

  it('tabulates final and best errors in markdown', () => {
    const table = formatCurveTable(curves, { label: 'algorithm' }).split('\n');
    expect(table[0]).toBe('| algorithm | final test error | best test error | final training error | epochs | seconds per epoch |');
    expect(table[2]).toBe('| EP | 5.00 % | 5.00 % (epoch 2) | 4.50 % | 2 | 6.0 |');
  });

  it('plots a sweep’s final errors against the swept value', () => {
    const p = sweepResultPlot([1e-3, 1e-2], curves, { title: 'lr sweep', xLabel: 'learning rate', logX: true, name: 'sweep-lr' });
    const doc = parseXml(p.svg);
    expect(svgTexts(doc)).toEqual(expect.arrayContaining(['lr sweep', 'learning rate', 'final error (%)', 'test error', 'training error (last stretch)']));
    expect(findAll(doc, 'path')).toHaveLength(2);
  });
});
