import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { atomicWrite } from './run-dir.js';

const require = createRequire(import.meta.url);
/** Noto Sans from npm (OFL): labels render the same on a machine with no system fonts at all. */
const FONTS = ['400Regular/NotoSans_400Regular.ttf', '700Bold/NotoSans_700Bold.ttf'].map((f) => require.resolve(`@expo-google-fonts/noto-sans/${f}`));

/**
 * An SVG document as PNG bytes, at twice its size (sharp on high-density screens and in papers),
 * on white. resvg-js ships prebuilt binaries (no native build, no browser); the font comes from
 * npm too, and system fonts fill in glyphs it lacks where there are any.
 */
export function svgToPng(svg: string, opts: { systemFonts?: boolean } = {}): Buffer {
  return renderSvg(svg, { ...opts, zoom: 2 }).asPng();
}

/** The SVG rendered on white as resvg draws it for svgToPng (`pixels` is RGBA, row by row). */
export function renderSvg(svg: string, opts: { systemFonts?: boolean; zoom?: number } = {}) {
  const font = { fontFiles: FONTS, loadSystemFonts: opts.systemFonts ?? true, defaultFontFamily: 'Noto Sans', sansSerifFamily: 'Noto Sans' };
  return new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: opts.zoom ?? 1 }, font }).render();
}

/**
 * A plot's files in `dir`: `<name>.svg` and `<name>.png` beside it (a figure people can paste),
 * both written atomically. Returns the SVG's path.
 */
export function writePlot(dir: string, plot: { name: string; svg: string }): string {
  const file = join(dir, `${plot.name}.svg`);
  atomicWrite(file, plot.svg);
  atomicWrite(join(dir, `${plot.name}.png`), svgToPng(plot.svg));
  return file;
}
