import './style.css';
import { tf } from '@eqprop/core';
import { type BatchResult, type EstimatorKind, isEstimatorName } from '@eqprop/learning';
import { startBackend } from './backend.js';
import { type DigitSet, example, loadDigitSet } from './data.js';
import { type SweepView, setUpBetaSweepPage } from './exercises/beta-sweep-page.js';
import { type RaceView, setUpRacePage } from './exercises/race-page.js';
import { DrawingPad } from './pad.js';
import { digit, heatmap, lineChart } from './plots.js';
import { PRESETS, type Preset, presetById, type Settings } from './presets.js';
import { Session } from './session.js';
import { setUpTabs } from './tabs.js';

// URL parameters: ?preset=small|large, ?seed=1, ?backend=wasm|webgpu|webgl|cpu, and ?autotrain=N, which
// trains N batches on load, evaluates, and sets <body data-state="done"> (the end-to-end test's hook).
// Pages: #train, #beta-sweep and #race (src/tabs.ts; the exercises are in src/exercises/).
const params = new URLSearchParams(location.search);
const intParam = (name: string, fallback: number) => {
  const v = Number(params.get(name));
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const seed = intParam('seed', 1);
const autotrain = intParam('autotrain', 0);
const EVAL_EVERY = 5000; // examples between test evaluations
const TRAIN_WINDOW = 2000; // examples in the running train accuracy
const GRID = Int32Array.from({ length: 24 }, (_, i) => i); // test digits shown with predictions
const CHUNK_MS = 40; // training time between two yields to the browser
const VIEW_MS = 500; // least time between two traced batches
const VIEW_SHARE = 0.2; // most of the training time that tracing may take (WebGPU: a trace waits for the GPU every step)

const $ = <T extends HTMLElement | SVGSVGElement = HTMLElement>(id: string) => document.getElementById(id) as unknown as T;
const ui = {
  status: $('status'),
  preset: $<HTMLSelectElement>('preset'),
  estimator: $<HTMLSelectElement>('estimator'),
  beta: $<HTMLInputElement>('beta'),
  freeSteps: $<HTMLInputElement>('free-steps'),
  nudgedSteps: $<HTMLInputElement>('nudged-steps'),
  lrs: $('lrs'),
  start: $<HTMLButtonElement>('start'),
  reset: $<HTMLButtonElement>('reset'),
  batches: $('batches'),
  examples: $('examples'),
  trainAcc: $('train-acc'),
  testAcc: $('test-acc'),
  freeChart: $<SVGSVGElement>('free-chart'),
  nudgedChart: $<SVGSVGElement>('nudged-chart'),
  presetNote: $('preset-note'),
  energySummary: $('energy-summary'),
  acc: $<SVGSVGElement>('acc-chart'),
  hidden: $<HTMLCanvasElement>('hidden-map'),
  hiddenCaption: $('hidden-caption'),
  pad: $<HTMLCanvasElement>('pad'),
  padPrediction: $<HTMLOutputElement>('pad-prediction'),
  outMap: $<HTMLCanvasElement>('out-map'),
  padHidden: $<HTMLCanvasElement>('pad-hidden'),
  clear: $<HTMLButtonElement>('clear'),
  sample: $<HTMLButtonElement>('sample'),
  grid: $<HTMLOListElement>('grid'),
};

let train: DigitSet;
let test: DigitSet;
let preset: Preset = presetById(params.get('preset'));
let session: Session;
let runId = 0;
let running = false;
let recent: BatchResult[] = [];
let curves = { train: [] as [number, number][], test: [] as [number, number][] };
let lastDigit: Float32Array | null = null;
let sampleCursor = 0;
let viewCost = 0; // ms the last trace took

/** Read by the end-to-end test. */
const probe = {
  state: 'loading',
  backend: '',
  batches: 0,
  testAccuracy: Number.NaN,
  trainAccuracy: Number.NaN,
  freeTrace: [] as number[],
  nudgedTraces: [] as number[][],
  padPrediction: null as number | null,
  /** The β sweep page's numbers, once it has run. */
  betaSweep: null as SweepView | null,
  /** The race page's curves, updated after every batch. */
  race: null as RaceView | null,
  tensors: () => tf.memory().numTensors,
  error: '',
};
(window as unknown as { eqpropDemo: typeof probe }).eqpropDemo = probe;

function setState(state: string): void {
  probe.state = state;
  document.body.dataset.state = state;
}

const fix = (v: number, d = 3) => (Math.abs(v) < 0.5 * 10 ** -d ? 0 : v).toFixed(d);
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '–');
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Shows an error that stopped the demo (status line, test hook) and stops training. */
function fail(e: unknown, what = 'The demo stopped'): void {
  console.error(e);
  runId++;
  running = false;
  probe.error = String((e as Error)?.message ?? e);
  ui.status.textContent = `${what}: ${probe.error}`;
  setState('error');
}

/** Work started by a click or a drawing: the session runs it in turn; a failure is shown. */
const background = (task: Promise<unknown>) => void task.catch((e: unknown) => fail(e));

// ---------- controls ----------

function fillControls(s: Settings): void {
  ui.presetNote.textContent = preset.description;
  ui.estimator.value = s.estimator;
  ui.beta.value = String(s.beta);
  ui.freeSteps.value = String(s.freeSteps);
  ui.nudgedSteps.value = String(s.nudgedSteps);
  const layers = preset.model.sizes.length - 1;
  ui.lrs.replaceChildren(
    ...s.lrs.map((lr, i) => {
      const div = document.createElement('div');
      const id = `lr-${i}`;
      const name = i === layers - 1 ? 'output' : `hidden ${i + 1}`;
      div.innerHTML = `<label for="${id}">Layer ${i + 1} (${name})</label><input id="${id}" type="number" min="0" max="1" step="any" inputmode="decimal" required>`;
      const input = div.querySelector('input')!;
      input.value = String(lr);
      input.addEventListener('change', applySettings);
      return div;
    }),
  );
}

/** Reads and validates the controls; marks bad fields and returns null when any is bad. */
function readControls(): Settings | null {
  const num = (input: HTMLInputElement, ok: (v: number) => boolean) => {
    const v = Number(input.value);
    const good = input.value.trim() !== '' && Number.isFinite(v) && ok(v);
    input.setAttribute('aria-invalid', String(!good));
    return good ? v : null;
  };
  const int = (lo: number, hi: number) => (v: number) => Number.isInteger(v) && v >= lo && v <= hi;
  const beta = num(ui.beta, (v) => v > 0 && v <= 5);
  const freeSteps = num(ui.freeSteps, int(1, 200));
  const nudgedSteps = num(ui.nudgedSteps, int(1, 100));
  const lrs = [...ui.lrs.querySelectorAll('input')].map((i) => num(i, (v) => v >= 0 && v <= 1));
  if (beta === null || freeSteps === null || nudgedSteps === null || lrs.includes(null)) return null;
  const estimator = ui.estimator.value as EstimatorKind;
  if (!isEstimatorName(estimator)) return null;
  return { estimator, beta, freeSteps, nudgedSteps, lrs: lrs as number[] };
}

function applySettings(): void {
  const s = readControls();
  const note = document.getElementById('settings-note')!;
  if (!s) {
    note.textContent = 'Some values are out of range (marked); the previous settings stay in use.';
    return;
  }
  note.textContent = 'Changes apply from the next batch.';
  session.update(s);
  if (!running) background(observe());
}

// ---------- training ----------

/** A new network with the controls' settings; evaluates and traces it, then the page is ready. */
async function reset(): Promise<void> {
  const id = ++runId;
  running = false;
  setState('loading');
  if (session) background(session.dispose()); // once the old session's queued work has run
  const s = readControls() ?? preset.defaults;
  session = new Session(preset, s, train, seed);
  recent = [];
  curves = { train: [], test: [] };
  renderStats();
  updateButtons();
  await evaluate();
  await observe();
  renderStats();
  if (lastDigit) await settleOn(lastDigit);
  if (id === runId) setState('ready');
}

/** Adds a batch to the running train accuracy; true when a test evaluation is due. */
function record(r: BatchResult): boolean {
  recent.push(r);
  let n = recent.reduce((a, b) => a + b.size, 0);
  while (n - recent[0].size >= TRAIN_WINDOW) n -= recent.shift()!.size;
  if (session.batches % 10 === 0) curves.train.push([session.examples, trainAccuracy()]);
  return session.examples % EVAL_EVERY < r.size;
}

function trainAccuracy(): number {
  const n = recent.reduce((a, b) => a + b.size, 0);
  return n ? 1 - recent.reduce((a, b) => a + b.errors, 0) / n : Number.NaN;
}

async function trainLoop(limit = Infinity): Promise<void> {
  const id = ++runId;
  const s = session;
  running = true;
  setState('training');
  updateButtons();
  // the time between traces: VIEW_MS, or longer where a trace is slow (WebGPU), so that
  // watching takes at most VIEW_SHARE of the time
  const viewEvery = () => Math.max(VIEW_MS, (viewCost * (1 - VIEW_SHARE)) / VIEW_SHARE);
  let nextView = performance.now() + viewEvery();
  while (id === runId && s.batches < limit) {
    // on wasm a step runs to its end inside one task: the chunk is one piece of work, then the
    // browser draws; on WebGPU every read of a step waits for the GPU with the browser free
    const t0 = performance.now();
    while (id === runId && performance.now() - t0 < CHUNK_MS && s.batches < limit) {
      const r = await s.trainStep();
      if (s !== session) return; // reset meanwhile
      if (record(r) && id === runId) await evaluate();
    }
    if (id !== runId) return; // paused or reset meanwhile
    if (performance.now() >= nextView) {
      await observe();
      nextView = performance.now() + viewEvery();
    }
    renderStats();
    await tick();
  }
  if (id !== runId) return;
  running = false;
  await finishRun('done', id);
}

function pause(): void {
  runId++;
  running = false;
  background(finishRun('paused', runId));
}

/** After a run: the last evaluation and trace, then `state`, unless a new run or a reset began meanwhile (run `id`). */
async function finishRun(state: string, id: number): Promise<void> {
  const s = session;
  updateButtons();
  await s.idle(); // a batch in flight (WebGPU) ends first
  if (curves.test.at(-1)?.[0] !== s.examples) await evaluate();
  await observe();
  if (id !== runId || s !== session) return;
  renderStats();
  updateButtons();
  if (lastDigit) await settleOn(lastDigit);
  if (id === runId && s === session) setState(state);
}

/** Test accuracy and the grid's predictions (each session's in turn; dropped if the session was replaced meanwhile). */
async function evaluate(): Promise<void> {
  const s = session;
  const acc = await s.accuracy(test);
  const pred = await s.predict(test, GRID);
  if (s !== session) return;
  curves.test.push([s.examples, acc]);
  probe.testAccuracy = acc;
  ui.grid.querySelectorAll('li').forEach((li, i) => {
    const label = test.labels[GRID[i]];
    const ok = pred[i] === label;
    const caption = li.querySelector('span')!;
    caption.className = ok ? 'ok' : 'bad';
    caption.textContent = ok ? `${pred[i]} ✓` : `${pred[i]} ✗ (${label})`;
    li.setAttribute('aria-label', `digit ${label}, network says ${pred[i]}${ok ? '' : ', wrong'}`);
  });
}

/** Traces one batch (the first examples of a fresh slice of the training set) and redraws the views. */
async function observe(): Promise<void> {
  const s = session;
  const start = (s.batches * preset.batchSize) % (train.count - preset.batchSize);
  const indices = Int32Array.from({ length: preset.batchSize }, (_, i) => start + i);
  const t0 = performance.now();
  const obs = await s.observe(train, indices);
  if (s !== session) return;
  viewCost = performance.now() - t0;
  probe.freeTrace = obs.free;
  probe.nudgedTraces = obs.nudged.map((n) => n.trace);
  const T = obs.free.length - 1;
  const signed = (beta: number) => `${beta > 0 ? '+' : '−'}${Math.abs(beta)}`;
  lineChart(ui.freeChart, [{ label: 'free phase (β = 0)', color: 'var(--free)', points: obs.free.map((e, i) => [i, e]) }], {
    xLabel: 'free step',
    yLabel: 'mean energy F',
  });
  lineChart(
    ui.nudgedChart,
    obs.nudged.map((n) => ({
      label: `nudged, β = ${signed(n.beta)}`,
      color: n.beta > 0 ? 'var(--plus)' : 'var(--minus)',
      points: n.trace.map((e, i) => [i, e] as [number, number]),
    })),
    { xLabel: 'nudged step', yLabel: 'mean energy F' },
  );
  ui.energySummary.textContent =
    `Free phase: F goes from ${fix(obs.free[0])} to ${fix(obs.free[T])} in ${T} steps. ` +
    obs.nudged.map((n) => `Nudged (β ${signed(n.beta)}): ${fix(n.trace[0], 4)} → ${fix(n.trace.at(-1)!, 4)}.`).join(' ');
  heatmap(ui.hidden, obs.hidden, obs.rows, obs.units);
  ui.hiddenCaption.textContent = `${obs.rows} examples of the current batch (rows) × ${obs.units} hidden units (columns), at the free equilibrium.`;
}

function renderStats(): void {
  probe.batches = session.batches;
  probe.trainAccuracy = trainAccuracy();
  ui.batches.textContent = String(session.batches);
  ui.examples.textContent = session.examples.toLocaleString('en');
  ui.trainAcc.textContent = pct(probe.trainAccuracy);
  ui.testAcc.textContent = pct(probe.testAccuracy);
  lineChart(
    ui.acc,
    [
      { label: 'train', color: 'var(--plus)', points: curves.train },
      { label: 'test', color: 'var(--free)', points: curves.test },
    ],
    { xLabel: 'examples seen', yLabel: 'accuracy', yRange: [0, 1], format: (v) => `${Math.round(100 * v)} %` },
  );
}

function updateButtons(): void {
  ui.start.disabled = ui.reset.disabled = false;
  ui.start.textContent = running ? 'Pause' : session.batches ? 'Resume' : 'Start';
  ui.start.setAttribute('aria-pressed', String(running));
}

// ---------- drawing pad ----------

let settleId = 0;

async function settleOn(pixels: Float32Array | null): Promise<void> {
  lastDigit = pixels;
  const id = ++settleId;
  if (!pixels) {
    ui.padPrediction.textContent = '–';
    probe.padPrediction = null;
    heatmap(ui.outMap, [], 10, 1);
    return;
  }
  ui.padPrediction.textContent = '…';
  const s = await session.settle(pixels);
  if (id !== settleId) return; // a newer drawing (or reset) took over
  const steps = s.outputs.length;
  const cols = 2 ** Math.ceil(Math.log2(Math.sqrt(s.hidden.length)));
  heatmap(ui.padHidden, s.hidden, Math.ceil(s.hidden.length / cols), cols);
  // replay the relaxation: one more column of output activity per frame
  const values = new Float32Array(10 * steps);
  let t = 0;
  const frame = () => {
    if (id !== settleId) return;
    for (let k = 0; k < 10; k++) values[k * steps + t] = s.outputs[t][k];
    heatmap(ui.outMap, values, 10, steps);
    const out = s.outputs[t];
    ui.padPrediction.textContent = t === steps - 1 ? String(s.prediction) : String(out.indexOf(Math.max(...out)));
    if (++t < steps) setTimeout(frame, 25);
    else probe.padPrediction = s.prediction;
  };
  frame();
}

// ---------- start-up ----------

function buildGrid(): void {
  ui.grid.replaceChildren(
    ...[...GRID].map((i) => {
      const li = document.createElement('li');
      const c = document.createElement('canvas');
      c.setAttribute('aria-hidden', 'true');
      digit(c, example(test, i));
      const span = document.createElement('span');
      span.textContent = '…';
      li.append(c, span);
      return li;
    }),
  );
}

async function main(): Promise<void> {
  const backend = await startBackend(params.get('backend'));
  probe.backend = backend.name;
  const base = new URL('generated/', document.baseURI);
  [train, test] = await Promise.all([loadDigitSet(new URL('mnist-train.bin', base).href), loadDigitSet(new URL('mnist-test.bin', base).href)]);
  ui.status.textContent = `tfjs backend: ${backend.name} (${backend.why}) · ${train.count.toLocaleString('en')} training and ${test.count.toLocaleString('en')} test digits · seed ${seed}`;

  for (const p of PRESETS) ui.preset.add(new Option(p.label, p.id, p === preset, p === preset));
  fillControls(preset.defaults);
  ui.preset.addEventListener('change', () => {
    preset = presetById(ui.preset.value);
    fillControls(preset.defaults);
    background(reset());
  });
  for (const el of [ui.estimator, ui.beta, ui.freeSteps, ui.nudgedSteps]) el.addEventListener('change', applySettings);
  ui.start.addEventListener('click', () => (running ? pause() : background(trainLoop())));
  ui.reset.addEventListener('click', () => background(reset()));
  const pad = new DrawingPad(ui.pad, (pixels) => background(settleOn(pixels)));
  ui.clear.addEventListener('click', () => pad.clear());
  ui.sample.addEventListener('click', () => pad.show(example(test, GRID.length + (sampleCursor++ % (test.count - GRID.length)))));

  buildGrid();
  setUpTabs();
  await reset();
  setUpBetaSweepPage({ session: () => session, train: () => train, show: (v) => (probe.betaSweep = v), fail });
  setUpRacePage({ train: () => train, test: () => test, seed, show: (v) => (probe.race = v), fail, before: () => running && pause() });
  if (autotrain) await trainLoop(autotrain);
}

main().catch((e: unknown) => fail(e, 'The demo could not start'));
