import { ConfigError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { linePlot, wrapWords } from './line-plot.js';
import { findAll, parseXml, svgTexts } from './svg-xml.js';

const x = [1e-3, 1e-2, 1e-1, 1];

describe('linePlot extras: bands, markers, dotted lines, vertical lines', () => {
  it('draws a shaded band under the line, dots at the points and a labelled vertical line', () => {
    const svg = linePlot({
      title: 'error vs β',
      xLabel: 'β',
      yLabel: 'error',
      logX: true,
      logY: true,
      series: [
        { name: 'mean ± std', x, y: [1e-3, 1e-2, 1e-1, 1], band: { lo: [5e-4, 5e-3, 5e-2, 0.5], hi: [2e-3, 2e-2, 0.2, 2] }, markers: true },
        { name: 'floor', x, y: [1, 0.1, 0.01, 1e-3], dotted: true },
      ],
      vlines: [{ x: 0.01, label: 'noise below' }],
    });
    const doc = parseXml(svg);
    const paths = findAll(doc, 'path');
    expect(paths).toHaveLength(3);
    const band = paths.find((p) => p.attrs['fill-opacity'] === '0.15')!;
    expect(band.attrs.d.match(/[ML]/g)).toHaveLength(8); // 4 points along the top, 4 back along the bottom
    expect(band.attrs.d.endsWith('Z')).toBe(true);
    expect(paths.some((p) => p.attrs['stroke-dasharray'] === '1.5 3')).toBe(true);
    expect(findAll(doc, 'circle')).toHaveLength(4 + 1); // the points and the legend's dot
    expect(svgTexts(doc)).toContain('noise below');
    // the band's upper edge (2) widens the y axis to the decade 10
    expect(svgTexts(doc)).toContain('10');
  });

  it('breaks a band where a bound cannot be shown on a log axis', () => {
    const svg = linePlot({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      logY: true,
      series: [{ name: 'a', x, y: [1, 1, 1, 1], band: { lo: [0.5, -1, 0.5, 0.5], hi: [2, 2, 2, 2] } }],
    });
    const band = findAll(parseXml(svg), 'path').filter((p) => p.attrs['fill-opacity']);
    expect(band).toHaveLength(1); // points 2–3 only: point 0 alone makes no area
  });

  it('names a series whose band does not match its points', () => {
    const bad = () => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'b', x, y: x, band: { lo: [1], hi: x } }] });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/"b" has 4 points but a band of 1 \/ 4/);
  });
});

describe('wrapWords (plot titles)', () => {
  it('packs words into lines of at most max characters, keeping every word in order', () => {
    const text = 'bias and variance of the EP estimate against the true gradient';
    const lines = wrapWords(text, 20);
    expect(lines.every((l) => l.length <= 20)).toBe(true);
    expect(lines.join(' ')).toBe(text);
    expect(lines.length).toBe(4);
  });
  it('cuts a word longer than a line, and gives one empty line for an empty title', () => {
    expect(wrapWords('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrapWords('', 10)).toEqual(['']);
  });
});
