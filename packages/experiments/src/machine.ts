import { spawnSync } from 'node:child_process';
import { arch, cpus, hostname, platform, release, totalmem } from 'node:os';

export interface MachineInfo {
  hostname: string;
  cpus: number;
  cpuModel: string | null;
  platform: string;
  arch: string;
  osRelease: string;
  memoryGiB: number;
  node: string;
}

/** The machine a run ran on, as recorded with it. */
export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    hostname: hostname(),
    cpus: c.length,
    cpuModel: c[0]?.model?.trim() || null,
    platform: platform(),
    arch: arch(),
    osRelease: release(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

/** `git rev-parse HEAD` in `dir` (the code's own folder), or null where that fails (no git, not a checkout). */
export function codeRevision(dir: string): string | null {
  const r = spawnSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  const rev = r.status === 0 ? r.stdout.trim() : '';
  return /^[0-9a-f]{40,64}$/.test(rev) ? rev : null;
}
