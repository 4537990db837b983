import { linePlot } from '@eqprop/analysis';
import { describe, expect, it } from 'vitest';
import { svgToPng } from './plot-files.js';

const plot = (title: string) => linePlot({ title, xLabel: 'x', yLabel: 'y', series: [{ name: 'a line', x: [0, 1], y: [0, 1] }] });
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47];

describe('svgToPng', () => {
  it('writes a PNG at twice the SVG size', () => {
    const png = svgToPng(plot('title'));
    expect([...png.subarray(0, 4)]).toEqual(PNG_SIGNATURE);
    expect(png.readUInt32BE(16)).toBe(2 * 720); // IHDR width
  });

  it('draws the labels with no system font (the font comes from npm): a title changes the pixels', () => {
    const blank = svgToPng(plot(''), { systemFonts: false });
    const titled = svgToPng(plot('Energy during the free phase'), { systemFonts: false });
    expect(titled.equals(blank)).toBe(false);
  });
});
