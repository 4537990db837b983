import { linePlot } from '@eqprop/analysis';
import { describe, expect, it } from 'vitest';
import { renderSvg, svgToPng } from './plot-files.js';

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

  it('keeps a long title on the page: it wraps, and no ink touches the left or right edge', () => {
    const title = 'Error of every estimator against the true gradient on ernoult2019-p1h (784-500-10, batch 20, float32, 12 values of β)';
    const img = renderSvg(plot(title), { systemFonts: false });
    const { width, pixels } = img;
    const bandRows = 60; // the title's lines, above the plot area
    let minX = width;
    let maxX = -1;
    for (let y = 0; y < bandRows; y++) {
      for (let x = 0; x < width; x++) {
        if (pixels[4 * (y * width + x)] < 128) {
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
        }
      }
    }
    expect(maxX).toBeGreaterThan(0); // the title was drawn
    expect(minX).toBeGreaterThan(3);
    expect(maxX).toBeLessThan(width - 4);
  });
});
