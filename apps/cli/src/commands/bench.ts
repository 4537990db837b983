import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { tf, setupBackend, ConfigError, DataFormatError } from '@eqprop/core';
import { parseFlags } from '../args.js';
import { atomicWrite } from '../run-dir.js';
import { defaultSuite, type BenchResult } from '../bench/suite.js';
import { matmulRate, samplePeakMemory } from '../bench/measure.js';

export const BENCH_HELP = `eqprop bench [--only PATTERN] [--quick] [--out FILE] [--compare OLD.json] [--backend NAME]
  runs the benchmark suite and writes JSON (default bench-results/bench-<date>.json)
  --only PATTERN   run the cases whose name contains PATTERN (comma-separated alternatives)
  --quick          epochs are extrapolated from 100 batches
  --compare FILE   print new/old ratios per line`;

interface BenchFile {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  backend: string;
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
  });
  const old = typeof flags.compare === 'string' ? readBench(flags.compare) : undefined;
  const backend = await setupBackend((flags.backend as string) ?? 'wasm');
  const log = (line: string) => process.stdout.write(line + '\n');
  const patterns = typeof flags.only === 'string' ? flags.only.split(',') : undefined;
  const cases = defaultSuite().filter((c) => !patterns || patterns.some((p) => c.name.includes(p)));
  if (cases.length === 0) throw new ConfigError(`--only "${flags.only}" matches no benchmark case`);
  const matmul = matmulRate(500, 784, 512);
  log(`backend ${backend}: matmul 500×784 by 784×512 at ${matmul.toFixed(1)} GFLOP/s`);
  const results: BenchResult[] = [];
  for (const c of cases) {
    log(`running ${c.name} …`);
    for (const r of await c.run({ quick: Boolean(flags.quick), log })) {
      results.push(r);
      const prev = old?.results.find((o) => o.name === r.name);
      const ratio = prev ? `  (${(r.value / prev.value).toFixed(2)}× of ${fmt(prev.value)}${r.higherIsBetter ? '' : ', lower is better'})` : '';
      log(`  ${r.name.padEnd(56)} ${fmt(r.value).padStart(10)} ${r.unit}${ratio}`);
    }
  }
  const file: BenchFile = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
    backend,
    versions: { tfjs: tf.version.tfjs, eqprop: '0.1.0' },
    matmulGflops: matmul,
    peakRssMiB: samplePeakMemory() / 2 ** 20,
    results,
  };
  const out = (flags.out as string) ?? join('bench-results', `bench-${file.date.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  atomicWrite(out, JSON.stringify(file, null, 2) + '\n');
  log(`peak RSS ${file.peakRssMiB.toFixed(0)} MiB; results written to ${out}`);
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
