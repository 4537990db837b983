export type BundledChromium = { executable: string; vulkanDir: string; version: string; env: Record<string, string> } | { missing: string };
export function bundledChromium(): BundledChromium;
