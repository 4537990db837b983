// End-to-end: the exercise pages of the built demo (dist/) in headless Chromium, on the wasm
// backend: the β sweep on the weights of the network being trained, and the race of EP against
// backprop. Their numbers are read from window.eqpropDemo (what the page drew), never from pixels.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SweepView } from '../src/exercises/beta-sweep-page.js';
import type { RaceView } from '../src/exercises/race-page.js';
import { browser, dist, launch, SUITE, serve, shots } from './harness.js';

const TRAINED = 60; // batches trained before the sweep: it runs on the current weights
const RACE = 60; // batches of the race

interface Probe {
  state: string;
  batches: number;
  error: string;
  betaSweep: SweepView | null;
  race: RaceView | null;
  tensors: () => number;
}

describe.skipIf('missing' in browser)(`${SUITE}: exercise pages`, () => {
  let server: Server;
  let context: BrowserContext;
  let page: Page;
  let userDir: string;
  const errors: string[] = [];
  const probe = () => page.evaluate(() => (window as unknown as { eqpropDemo: Probe }).eqpropDemo);

  beforeAll(async () => {
    if (!existsSync(join(dist, 'index.html'))) throw new Error(`${dist}/index.html not found: run \`pnpm --filter demo build\` first`);
    server = await serve(dist);
    userDir = mkdtempSync(join(tmpdir(), 'eqprop-demo-exercises-'));
    context = await launch(userDir, ['--disable-gpu'], { width: 1280, height: 900 });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    mkdirSync(shots, { recursive: true });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await page.goto(`${base}?autotrain=${TRAINED}&seed=1#beta-sweep`);
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 150_000 });
  });

  afterAll(async () => {
    await context?.close();
    server?.close();
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  it('sweeps β on the current weights: the bias falls with β, as β for one-sided and β² for symmetric', async () => {
    expect(await page.isVisible('#page-beta-sweep')).toBe(true);
    expect(await page.isVisible('#page-train')).toBe(false);
    await page.click('#sweep-run');
    await page.waitForSelector('#page-beta-sweep[data-state="done"], #page-beta-sweep[data-state="error"]', { timeout: 150_000 });
    const {
      betaSweep: s,
      error,
      tensors,
    } = await page.evaluate(() => {
      const p = (window as unknown as { eqpropDemo: Probe }).eqpropDemo;
      return { betaSweep: p.betaSweep, error: p.error, tensors: p.tensors() };
    });
    expect(error).toBe('');
    expect(s).not.toBeNull();
    const sweep = s!;
    const row = (b: number) => sweep.betas.findIndex((x) => Math.abs(x / b - 1) < 1e-3);
    console.log(
      `demo e2e β sweep after ${sweep.afterBatches} batches, ${sweep.seconds.toFixed(1)} s, free residual ${sweep.freeResidual.toExponential(1)}, ${tensors} live tensors\n` +
        sweep.betas
          .map(
            (b, i) =>
              `  β ${b}: one-sided ${sweep.oneSided[i].mean.toExponential(2)} symmetric ${sweep.symmetric[i].mean.toExponential(2)} random-sign std ${sweep.randomSignStd[i].mean.toExponential(2)}`,
          )
          .join('\n') +
        `\n  slopes: one-sided ${sweep.slopes.oneSided.toFixed(2)}, symmetric ${sweep.slopes.symmetric.toFixed(2)}; noise n ${sweep.noise.mean.toExponential(2)}`,
    );
    expect(sweep.afterBatches).toBe(TRAINED);
    expect(sweep.betas[0]).toBeCloseTo(1e-3, 9);
    expect(sweep.betas.at(-1)).toBe(1);
    expect(sweep.freeResidual).toBeLessThan(1e-5);
    // the one-sided bias falls at every step of the grid from β = 1 down to 0.01 (float32 noise,
    // n / β, is a hundredth of it there), and at 1e-3 it is still far below its value at 0.1
    for (let i = row(0.01); i < sweep.betas.length - 1; i++) expect(sweep.oneSided[i].mean).toBeLessThan(sweep.oneSided[i + 1].mean);
    expect(sweep.oneSided[row(1e-3)].mean).toBeLessThan(0.1 * sweep.oneSided[row(0.1)].mean);
    for (const b of [0.01, 0.1]) expect(sweep.symmetric[row(b)].mean).toBeLessThan(sweep.symmetric[row(b * 10)].mean);
    // the orders: O(β) and O(β²)
    expect(sweep.slopes.oneSided).toBeGreaterThan(0.8);
    expect(sweep.slopes.oneSided).toBeLessThan(1.2);
    expect(sweep.slopes.symmetric).toBeGreaterThan(1.6);
    expect(sweep.slopes.symmetric).toBeLessThan(2.4);
    // drawn: three bars per β (one-sided, symmetric, random-sign), a table row per β
    expect(await page.locator('#sweep-chart rect.bar').count()).toBe(3 * sweep.betas.length);
    expect(await page.locator('#sweep-rows tr').count()).toBe(sweep.betas.length);
    await page.screenshot({ path: join(shots, 'demo-beta-sweep.png'), fullPage: true });
  });

  it(`races EP against backprop for ${RACE} batches: both curves start from the same error and both fall`, async () => {
    await page.click('#tab-race');
    await page.waitForSelector('#page-race', { state: 'visible' }); // hash routes: shown on hashchange
    expect(await page.isVisible('#page-beta-sweep')).toBe(false);
    await page.fill('#race-batches', String(RACE));
    const t0 = Date.now();
    await page.click('#race-start');
    await page.waitForSelector('#page-race[data-state="done"]', { timeout: 150_000 });
    const { race: r, error } = await probe();
    expect(error).toBe('');
    const race = r!;
    const errs = (c: { error: number }[]) => c.map((p) => (100 * p.error).toFixed(1)).join(' → ');
    console.log(
      `demo e2e race: ${race.batches} batches in ${((Date.now() - t0) / 1000).toFixed(1)} s; start gap ${race.startGap.toExponential(1)}; ` +
        `EP ${errs(race.ep)} %; backprop ${errs(race.bp)} %; ms per batch EP ${race.msPerBatch.ep.toFixed(0)}, backprop ${race.msPerBatch.bp.toFixed(0)}`,
    );
    expect(race.state).toBe('done');
    expect(race.batches).toBe(RACE);
    expect(race.ep.length).toBe(RACE / 10 + 1);
    expect(race.bp.length).toBe(race.ep.length);
    // the same start: EP's equilibrium is the feed-forward pass, so the first points are one point
    expect(race.startGap).toBeLessThan(1e-6);
    expect(race.ep[0].examples).toBe(0);
    expect(race.bp[0].examples).toBe(0);
    expect(race.ep[0].error).toBe(race.bp[0].error);
    expect(Math.abs(race.ep[0].loss - race.bp[0].loss)).toBeLessThan(1e-6);
    // both learn (an untrained network is at chance: about 90 % error)
    for (const curve of [race.ep, race.bp]) expect(curve.at(-1)!.error).toBeLessThan(curve[0].error - 0.4);
    // drawn: both test curves and both training curves, from the same first point
    const paths = page.locator('#race-chart path.line');
    expect(await paths.count()).toBe(4);
    const starts = await paths.evaluateAll((ps) => ps.slice(0, 2).map((p) => p.getAttribute('d')!.split('L')[0]));
    expect(starts[0]).toBe(starts[1]);
    await page.screenshot({ path: join(shots, 'demo-race.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
