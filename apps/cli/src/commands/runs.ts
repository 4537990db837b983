import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatCurveTable, type LearningCurve, learningCurvePlots } from '@eqprop/analysis';
import { backendInfo, ConfigError, EqpropError } from '@eqprop/core';
import {
  codeRevision,
  defaultDbDir,
  embeddedUrl,
  machineInfo,
  openRunsDb,
  type RunRecord,
  type RunRow,
  type RunsDb,
  redactText,
  STATE_FILE,
  urlPassword,
  writePlot,
} from '@eqprop/experiments';
import { parseFlags } from '../args.js';

export const RUNS_HELP = `eqprop runs [--db URL] list|show ID|compare ID ID…
  The runs recorded in a runs database (\`eqprop train --db URL\` records one).
  list                   runs, newest first (--limit N, default 50)
  show ID                a run: config, code revision, backend, machine, epochs, summary
  compare ID ID…         final and best test error, epochs and seconds per epoch side by side, and
                         the learning curves as SVG in --out (default runs/runs-compare-ID-ID…)
  --db URL               the database (default: EQPROP_DB, else the embedded server of
                         \`eqprop db\`, in $EQPROP_DB_DIR or its default folder)`;

const OPTIONS = { db: { type: 'string' }, limit: { type: 'string' }, out: { type: 'string' } } as const;

/** --db, else EQPROP_DB, else (when `embedded`) the URL of the embedded server in its default folder. */
export function resolveDbUrl(flag: string | boolean | undefined, opts: { embedded: boolean }): string | undefined {
  if (typeof flag === 'string' && flag !== '') return flag;
  if (process.env.EQPROP_DB) return process.env.EQPROP_DB;
  if (!opts.embedded) return undefined;
  if (!existsSync(join(defaultDbDir(), STATE_FILE))) {
    throw new ConfigError(`no runs database: give --db URL, set EQPROP_DB, or start the embedded one with \`eqprop db start\` (looked in ${defaultDbDir()})`);
  }
  return embeddedUrl(defaultDbDir());
}

export async function runsCommand(argv: string[]): Promise<void> {
  const { positionals, flagArgs } = splitPositionals(argv, OPTIONS);
  const flags = parseFlags(flagArgs, OPTIONS);
  const [sub, ...ids] = positionals;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (sub !== 'list' && sub !== 'show' && sub !== 'compare') {
    throw new ConfigError(`eqprop runs expects list, show ID or compare ID ID…, got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
  }
  const runIds = ids.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`a run id is a positive integer, got "${s}"`);
    return n;
  });
  if (sub === 'list' && runIds.length) throw new ConfigError('eqprop runs list takes no run id (eqprop runs show ID)');
  if (sub === 'show' && runIds.length !== 1) throw new ConfigError(`eqprop runs show expects one run id, got ${runIds.length}`);
  if (sub === 'compare' && runIds.length < 2) throw new ConfigError(`eqprop runs compare expects two run ids or more, got ${runIds.length}`);
  const limit = flags.limit === undefined ? 50 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`--limit expects a positive integer, got "${flags.limit}"`);

  const db = await openRunsDb(resolveDbUrl(flags.db, { embedded: true })!);
  try {
    if (sub === 'list') {
      const runs = await db.listRuns({ limit });
      if (runs.length === 0) log(`no runs recorded in ${db.safeUrl}`);
      else log(formatRunList(runs));
      return;
    }
    const runs = await Promise.all(runIds.map(async (id) => (await db.getRun(id)) ?? missing(id, db)));
    if (sub === 'show') {
      log(formatRun(runs[0]));
      return;
    }
    const curves = runs.map(runCurve);
    log(formatCurveTable(curves, { label: 'run' }));
    const out = (flags.out as string | undefined) ?? join('runs', `runs-compare-${runIds.join('-')}`);
    mkdirSync(out, { recursive: true });
    const plots = learningCurvePlots(curves, { title: `runs ${runIds.join(', ')}`, prefix: 'runs' });
    for (const p of plots) writePlot(out, p); // and a PNG beside each
    log(`\nwrote ${plots.map((p) => join(out, `${p.name}.svg`)).join(', ')}`);
  } finally {
    await db.close();
  }
}

function missing(id: number, db: RunsDb): never {
  throw new EqpropError('E_RUN', `no run ${id} in the runs database at ${db.safeUrl} (eqprop runs list)`);
}

/** Positional words (subcommand, ids) apart from flags and the values of flags that take one. */
function splitPositionals(argv: string[], options: Record<string, { type: string }>): { positionals: string[]; flagArgs: string[] } {
  const positionals: string[] = [];
  const flagArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-')) positionals.push(a);
    else {
      flagArgs.push(a);
      const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
      if (name && options[name]?.type === 'string' && i + 1 < argv.length) flagArgs.push(argv[++i]);
    }
  }
  return { positionals, flagArgs };
}

const pct = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(2)} %` : '—');

function preset(r: RunRow): string {
  return String(r.config?.preset ?? 'custom');
}

export function formatRunList(runs: readonly RunRow[]): string {
  const rows = runs.map((r) => [
    String(r.id),
    r.created.toISOString().slice(0, 16).replace('T', ' '),
    r.status,
    preset(r),
    r.backend ?? '—',
    String(r.epochs),
    pct(r.summary?.finalTestError),
    String(r.machine?.hostname ?? '—'),
    r.runDir ?? '—',
  ]);
  const head = ['id', 'created (UTC)', 'status', 'preset', 'backend', 'epochs', 'test error', 'host', 'run folder'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

export function formatRun(r: RunRecord): string {
  const m = r.machine ?? {};
  const sizes = (r.config?.model as { sizes?: number[] } | undefined)?.sizes;
  const lines = [
    `run ${r.id}: ${preset(r)} — ${r.status}${r.error ? ` (${r.error})` : ''}`,
    `created ${r.created.toISOString()}, updated ${r.updated.toISOString()}`,
    `config: ${sizes ? `layers ${sizes.join(',')}, ` : ''}batch ${r.config?.batchSize ?? '—'}, ${r.config?.epochs ?? '—'} epochs, seed ${r.config?.seed ?? '—'}`,
    `code revision: ${r.codeRevision ?? 'unknown'}`,
    `backend: ${r.backend ?? '—'}${r.adapter ? ` on ${JSON.stringify(r.adapter)}` : ''}`,
    `machine: ${m.hostname ?? '—'} (${m.cpus ?? '?'} cpus${m.cpuModel ? `, ${m.cpuModel}` : ''}, ${m.platform ?? '?'}-${m.arch ?? '?'}, node ${m.node ?? '?'})`,
    `run folder: ${r.runDir ?? '—'}`,
    '',
    'epoch  train error  test error  seconds',
    ...r.epochRows.map(
      (e) =>
        `${String(e.epoch).padStart(5)}  ${pct(e.metrics.trainError).padStart(11)}  ${pct(e.metrics.testError).padStart(10)}  ${num(e.metrics.seconds).padStart(7)}`,
    ),
  ];
  if (r.summary) {
    const s = r.summary;
    lines.push(
      '',
      `summary: final test error ${pct(s.finalTestError)}, best ${pct(s.bestTestError)} (epoch ${s.bestEpoch ?? '—'}), ${num(s.secondsPerEpoch)} s per epoch, ${num(s.wallSeconds)} s in all`,
    );
  }
  return lines.join('\n');
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(1) : '—');

/** A recorded run as the learning curve @eqprop/analysis tabulates and draws. */
export function runCurve(r: RunRecord): LearningCurve {
  const n = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  return {
    name: `#${r.id} ${preset(r)}`,
    train: r.epochRows.map((e) => ({ epoch: e.epoch, trainError: n(e.metrics.trainError), trainLoss: n(e.metrics.trainLoss) })),
    test: r.epochRows.map((e) => ({ epoch: e.epoch, testError: n(e.metrics.testError), testLoss: n(e.metrics.testLoss) })),
    seconds: r.epochRows.reduce((s, e) => s + (typeof e.metrics.seconds === 'number' ? e.metrics.seconds : 0), 0),
  };
}

// ---- recording `eqprop train --db` -------------------------------------------------------------

/** What `eqprop train` tells the runs database: the run, each epoch as it ends, the summary. */
export interface TrainRecorder {
  start(run: { config: unknown; runDir: string; resumed: boolean }): Promise<void>;
  /** Records one epoch's metrics as it ends (a failure warns once; the epoch is written again at the end). */
  epoch(m: object): Promise<void>;
  end(history: readonly object[], summary: object): Promise<void>;
  fail(e: unknown): Promise<void>;
}

/**
 * Opens the runs database of `--db URL` / EQPROP_DB (undefined when neither is given) before any
 * training, so that a database that is down or refuses the password stops the run at once.
 */
export async function openTrainRecorder(flag: string | boolean | undefined): Promise<TrainRecorder | undefined> {
  const url = resolveDbUrl(flag, { embedded: false });
  if (url === undefined) return undefined;
  const db = await openRunsDb(url);
  const secret = urlPassword(url);
  let runId: number | undefined;
  let runDir = '';
  let warned = false;
  const warn = (e: unknown) => {
    if (warned) return;
    warned = true;
    process.stderr.write(
      `eqprop: warning: could not record an epoch in the runs database (${redactText((e as Error).message ?? String(e), [secret])}); training goes on, the epochs are recorded again at the end\n`,
    );
  };
  const done = new Set<number>();
  const record = async (m: { epoch?: unknown }) => {
    await db.recordEpoch(runId!, Number(m.epoch), m as Record<string, unknown>);
    done.add(Number(m.epoch));
  };
  return {
    async start(run) {
      runDir = resolve(run.runDir);
      const info = backendInfo();
      const existing = run.resumed ? await db.findRunByDir(runDir) : undefined;
      if (existing !== undefined) {
        runId = existing;
        await db.reopenRun(runId);
      } else {
        runId = await db.recordRunStart({
          config: run.config,
          codeRevision: codeRevision(dirname(fileURLToPath(import.meta.url))),
          backend: info.name,
          adapter: info.adapter ?? null,
          machine: machineInfo(),
          runDir,
        });
      }
      process.stdout.write(`recording as run ${runId} in ${db.safeUrl}\n`);
    },
    async epoch(m) {
      if (runId === undefined) return;
      await record(m as { epoch?: unknown }).catch(warn);
    },
    async end(history, summary) {
      try {
        // the history is the whole run (a resumed run's earlier epochs too): what was not recorded live
        for (const m of history) if (!done.has(Number((m as { epoch?: unknown }).epoch))) await record(m as { epoch?: unknown });
        await db.recordRunEnd(runId!, { status: 'done', summary });
      } finally {
        await db.close();
      }
    },
    async fail(e) {
      try {
        if (runId !== undefined) await db.recordRunEnd(runId, { status: 'failed', error: String((e as Error)?.message ?? e).split('\n')[0] });
      } catch {
        /* the training error is the one to report */
      } finally {
        await db.close();
      }
    },
  };
}
