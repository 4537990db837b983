import { ConfigError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { linePlot } from './line-plot.js';

/** Every element opened is closed, in order (the SVG is well-formed XML). */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) stack.push(name);
    else if (stack.pop() !== name) return false;
  }
  return stack.length === 0;
}

const ks = [0, 1, 2, 3, 4];

describe('linePlot', () => {
  it('makes a titled SVG with labelled axes, one path per series and a legend', () => {
    const svg = linePlot({
      title: 'GDU <check> & friends',
      xLabel: 'step k',
      yLabel: 'gradient',
      series: [
        { name: 'BPTT', x: ks, y: [0.5, 0.3, 0.1, -0.1, -0.2] },
        { name: 'EP "dashed"', x: ks, y: [0.48, 0.31, 0.12, -0.08, -0.21], dashed: true, color: '#123456' },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('GDU &lt;check&gt; &amp; friends');
    expect(svg).toContain('>step k<');
    expect(svg).toContain('>gradient<');
    expect(svg).toContain('EP &quot;dashed&quot;');
    expect(svg.match(/<path /g)?.length).toBe(2);
    expect(svg.match(/<path [^>]*stroke="#123456" stroke-dasharray/g)?.length).toBe(1);
    // legend: a sample line per series, the dashed one dashed too
    expect(svg.match(/<line [^>]*stroke-width="1.6"/g)?.length).toBe(2);
    // the y = 0 line is drawn when the range crosses zero; tick labels are round numbers
    expect(svg).toContain('>0<');
    expect(svg).toMatch(/>-0\.2<|>−0\.2</);
    expect(svg).not.toContain('NaN');
  });

  it('puts log axes on decades and skips points a log axis cannot show', () => {
    const svg = linePlot({
      title: 'loss',
      xLabel: 'epoch',
      yLabel: 'error',
      logX: true,
      logY: true,
      series: [{ name: 'test error', x: [0, 1, 10, 100], y: [1, 0.1, 0.01, 0.001] }],
    });
    expect(balanced(svg)).toBe(true);
    for (const t of ['>1<', '>10<', '>100<', '>0.01<', '>1e-3<']) expect(svg).toContain(t);
    // x = 0 is dropped: three points, one move and two line segments
    const d = svg.match(/<path d="([^"]+)"/)![1];
    expect(d.match(/M/g)?.length).toBe(1);
    expect(d.match(/L/g)?.length).toBe(2);
  });

  it('breaks a line at missing values', () => {
    const svg = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: ks, y: [1, 2, Number.NaN, 4, 5] }] });
    expect(svg.match(/<path d="([^"]+)"/)![1].match(/M/g)?.length).toBe(2);
  });

  it('copes with a constant series, an empty one and no series at all', () => {
    for (const series of [[{ name: 'flat', x: ks, y: [3, 3, 3, 3, 3] }], [{ name: 'empty', x: [], y: [] }], []]) {
      const svg = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series });
      expect(balanced(svg)).toBe(true);
      expect(svg).not.toMatch(/NaN|Infinity/);
    }
  });

  it('gives each plot its own clip id, so several can share a page', () => {
    const a = linePlot({ title: 'one', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: ks, y: ks }] });
    const b = linePlot({ title: 'two', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: ks, y: ks }] });
    const id = (s: string) => s.match(/clipPath id="([^"]+)"/)![1];
    expect(id(a)).not.toBe(id(b));
  });

  it('names a series whose x and y differ in length', () => {
    expect(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'bad', x: [1, 2], y: [1] }] })).toThrow(ConfigError);
    expect(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'bad', x: [1, 2], y: [1] }] })).toThrow(/"bad" has 2 x values but 1 y/);
  });
});
