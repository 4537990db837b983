import { type Batch, Rng, runOnBackend } from '@eqprop/core';
import { type DigitSet, makeBatch, ranges } from '../data.js';
import { lineChart } from '../plots.js';
import { presetById } from '../presets.js';
import { Race, type RacePoint } from './race.js';

const EVAL_EVERY = 10; // batches between two test evaluations
const TEST_COUNT = 1000; // test digits of the curves
const TRAIN_WINDOW = 10; // batches in the running training error

/** What the page shows, for the end-to-end test (window.eqpropDemo.race). */
export interface RaceView {
  state: 'running' | 'done';
  batches: number;
  /** Test error and cost of each learner, at 0, EVAL_EVERY, 2·EVAL_EVERY … batches. */
  ep: RacePoint[];
  bp: RacePoint[];
  /** Largest difference between EP's free equilibrium and the twin's feed-forward pass at the start. */
  startGap: number;
  msPerBatch: { ep: number; bp: number };
}

/**
 * The race page: EP and the backprop twin of the `small` preset (smooth σ, so the feed-forward
 * twin gets a gradient through every unit), from the same initial weights, trained batch by batch
 * on the same digits; test error curves drawn live on one plot.
 */
export function setUpRacePage(deps: {
  train: () => DigitSet;
  test: () => DigitSet;
  seed: number;
  show: (view: RaceView) => void;
  fail: (e: unknown) => void;
  before: () => void;
}): void {
  const $ = <T extends Element>(id: string) => document.getElementById(id) as unknown as T;
  const page = $<HTMLElement>('page-race');
  const button = $<HTMLButtonElement>('race-start');
  const length = $<HTMLInputElement>('race-batches');
  const status = $<HTMLElement>('race-status');
  const chart = $<SVGSVGElement>('race-chart');
  let race: Race | null = null;
  let runId = 0;
  button.disabled = false;
  draw([], [], [], []);

  button.addEventListener('click', () => {
    if (race) {
      runId++; // stop: the loop sees it between two batches
      return;
    }
    deps.before();
    const limit = Number(length.value);
    const ok = Number.isInteger(limit) && limit >= 1 && limit <= 2000;
    length.setAttribute('aria-invalid', String(!ok));
    if (ok) void run(limit).catch((e: unknown) => deps.fail(e));
  });

  async function run(limit: number): Promise<void> {
    const id = ++runId;
    const preset = presetById('small');
    const [train, test] = [deps.train(), deps.test()];
    const current = new Race(preset, deps.seed);
    race = current;
    button.textContent = 'Stop';
    page.dataset.state = 'running';
    const testBatches = function* (): Generator<Batch> {
      for (const idx of ranges(Math.min(TEST_COUNT, test.count), 500)) yield makeBatch(test, idx);
    };
    const view: RaceView = { state: 'running', batches: 0, ep: [], bp: [], startGap: Number.NaN, msPerBatch: { ep: 0, bp: 0 } };
    const trainErr = { ep: [] as [number, number][], bp: [] as [number, number][] };
    const recent: { ep: number; bp: number; size: number }[] = [];
    try {
      const probe = makeBatch(
        test,
        Int32Array.from({ length: 100 }, (_, i) => i),
      );
      view.startGap = await runOnBackend(current.startGapReads(probe.x));
      [probe.x, probe.y].forEach((t) => t.dispose());
      const evaluate = async () => {
        const p = await runOnBackend(current.evaluateReads(testBatches, view.batches * preset.batchSize));
        view.ep.push(p.ep);
        view.bp.push(p.bp);
      };
      await evaluate();
      const order = new Rng(deps.seed + 1).permutation(train.count);
      while (view.batches < limit && id === runId) {
        const at = (view.batches * preset.batchSize) % (train.count - preset.batchSize);
        const batch = makeBatch(train, order.subarray(at, at + preset.batchSize));
        try {
          const step = await runOnBackend(current.stepReads(batch));
          recent.push({ ep: step.ep.errors, bp: step.bp.errors, size: step.size });
          if (recent.length > TRAIN_WINDOW) recent.shift();
        } finally {
          [batch.x, batch.y].forEach((t) => t.dispose());
        }
        view.batches++;
        const examples = view.batches * preset.batchSize;
        const seen = recent.reduce((a, w) => a + w.size, 0);
        trainErr.ep.push([examples, recent.reduce((a, w) => a + w.ep, 0) / seen]);
        trainErr.bp.push([examples, recent.reduce((a, w) => a + w.bp, 0) / seen]);
        if (view.batches % EVAL_EVERY === 0 || view.batches === limit) await evaluate();
        view.msPerBatch = { ep: current.ms.ep / view.batches, bp: current.ms.bp / view.batches };
        draw(view.ep, view.bp, trainErr.ep, trainErr.bp);
        describe(view);
        deps.show(view);
        await new Promise((resolve) => setTimeout(resolve, 0)); // let the browser draw
      }
      view.state = 'done';
      describe(view);
      deps.show(view);
      page.dataset.state = 'done';
    } finally {
      current.dispose();
      race = null;
      button.textContent = 'Start the race';
    }
  }

  function describe(view: RaceView): void {
    const last = (c: RacePoint[]) => `${(100 * c.at(-1)!.error).toFixed(1)} %`;
    status.textContent =
      `${view.batches} batches of 50 (${(view.batches * 50).toLocaleString('en')} digits). Test error: EP ${last(view.ep)}, backprop ${last(view.bp)}; ` +
      `both started at ${(100 * view.ep[0].error).toFixed(1)} % (EP's equilibrium and the feed-forward pass differ by at most ${view.startGap === 0 ? '0' : view.startGap.toExponential(0)} at the start). ` +
      `Time per batch in this tab: EP ${view.msPerBatch.ep.toFixed(0)} ms, backprop ${view.msPerBatch.bp.toFixed(0)} ms.`;
  }

  function draw(ep: RacePoint[], bp: RacePoint[], epTrain: [number, number][], bpTrain: [number, number][]): void {
    lineChart(
      chart,
      [
        { label: 'EP', color: 'var(--plus)', points: ep.map((p) => [p.examples, p.error]) },
        { label: 'backprop', color: 'var(--free)', points: bp.map((p) => [p.examples, p.error]) },
        { label: 'EP, train', color: 'var(--plus)', points: epTrain, dashed: true },
        { label: 'backprop, train', color: 'var(--free)', points: bpTrain, dashed: true },
      ],
      { xLabel: 'training examples seen (the same for both)', yLabel: 'error', yRange: [0, 1], format: (v) => `${Math.round(100 * v)} %` },
    );
  }
}
