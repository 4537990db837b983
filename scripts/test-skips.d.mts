export interface SkipRecord {
  suite: string;
  reason: string;
  command: string;
  optional?: boolean;
}
export const SKIPS_DIR: string;
export function recordSkip(record: SkipRecord): void;
export function packageDirs(root: string): string[];
export function clearSkips(root: string): void;
export function readSkips(root: string): SkipRecord[];
