import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { type AdapterInfo, backendInfo, ConfigError, DataFormatError, describeBackend, EqpropError, setupBackend, tf } from '@eqprop/core';
import { atomicWrite } from '@eqprop/experiments';
import { parseFlags } from '../args.js';
import { matmulRateAsync, samplePeakMemory } from '../bench/measure.js';
import { type BenchResult, defaultSuite } from '../bench/suite.js';

export const BENCH_HELP = `eqprop bench [--only PATTERN] [--quick] [--out FILE] [--compare OLD.json] [--backend NAME]
  runs the benchmark suite and writes JSON (default bench-results/bench-<date>.json)
  --backend NAME   wasm (default), webgpu, auto, cpu; the JSON names the WebGPU adapter
                   (GPU cases: --backend webgpu --only accel)
  --only PATTERN   run the cases whose name contains PATTERN (comma-separated alternatives)
  --quick          epochs are extrapolated from 100 batches
  --compare FILE   print new/old ratios per line`;

interface BenchFile {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  backend: string;
  /** The WebGPU adapter (vendor, architecture, device, description) when the backend is webgpu. */
  adapter?: AdapterInfo;
  versions: Record<string, string>;
  matmulGflops: number;
  peakRssMiB: number;
  results: BenchResult[];
}

export async function benchCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    only: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    compare: { type: 'string' },
    backend: { type: 'string' },
    case: { type: 'string' },
    child: { type: 'string' },
  });
  const backendName = (flags.backend as string) ?? 'wasm';
  if (typeof flags.case === 'string' && typeof flags.child === 'string') {
    // one case in a fresh process: its memory and its timing do not depend on the cases before it
    await setupBackend(backendName);
    const c = defaultSuite().find((k) => k.name === flags.case);
    if (!c) throw new ConfigError(`no benchmark case named "${flags.case}"`);
    const results = await c.run({ quick: Boolean(flags.quick), log: (line) => process.stdout.write(`${line}\n`) });
    atomicWrite(flags.child, JSON.stringify({ results, peakRss: samplePeakMemory() }));
    return;
  }
  const old = typeof flags.compare === 'string' ? readBench(flags.compare) : undefined;
  const backend = await setupBackend(backendName);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const patterns = typeof flags.only === 'string' ? flags.only.split(',') : undefined;
  const cases = defaultSuite().filter((c) => !patterns || patterns.some((p) => c.name.includes(p)));
  if (cases.length === 0) throw new ConfigError(`--only "${flags.only}" matches no benchmark case`);
  const matmul = await matmulRateAsync(500, 784, 512);
  log(`backend ${describeBackend()}: matmul 500×784 by 784×512 at ${matmul.toFixed(1)} GFLOP/s`);
  const results: BenchResult[] = [];
  for (const c of cases) {
    log(`running ${c.name} …`);
    for (const r of runCaseInChild(c.name, backendName, Boolean(flags.quick))) {
      results.push(r);
      const prev = old?.results.find((o) => o.name === r.name);
      const ratio = prev ? `  (${(r.value / prev.value).toFixed(2)}× of ${fmt(prev.value)}${r.higherIsBetter ? '' : ', lower is better'})` : '';
      log(`  ${r.name.padEnd(56)} ${fmt(r.value).padStart(10)} ${r.unit}${ratio}`);
    }
  }
  const file: BenchFile = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: process.platform,
    },
    backend,
    adapter: backendInfo().adapter,
    versions: { tfjs: tf.version.tfjs, eqprop: '0.1.0' },
    matmulGflops: matmul,
    peakRssMiB: Math.max(samplePeakMemory(), childPeakRss) / 2 ** 20,
    results,
  };
  const out = (flags.out as string) ?? join('bench-results', `bench-${file.date.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  atomicWrite(out, `${JSON.stringify(file, null, 2)}\n`);
  log(`peak RSS ${file.peakRssMiB.toFixed(0)} MiB; results written to ${out}`);
}

let childPeakRss = 0;

/** Runs one case with `eqprop bench --case NAME --child FILE` and reads its results back. */
function runCaseInChild(name: string, backend: string, quick: boolean): BenchResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'eqprop-bench-case-'));
  const out = join(dir, 'results.json');
  try {
    const args = [process.argv[1], 'bench', '--case', name, '--child', out, '--backend', backend, ...(quick ? ['--quick'] : [])];
    const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !existsSync(out)) throw new EqpropError('E_BENCH', `benchmark case ${name} failed (exit ${r.status ?? r.signal})`);
    const parsed = JSON.parse(readFileSync(out, 'utf8')) as { results: BenchResult[]; peakRss: number };
    childPeakRss = Math.max(childPeakRss, parsed.peakRss);
    return parsed.results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readBench(path: string): BenchFile {
  if (!existsSync(path)) throw new ConfigError(`--compare file "${path}" does not exist`);
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as BenchFile;
    if (!Array.isArray(parsed.results)) throw new Error('no results');
    return parsed;
  } catch {
    throw new DataFormatError(`--compare file "${path}" is not a benchmark JSON file`);
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4);
}
