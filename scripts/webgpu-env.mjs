#!/usr/bin/env node
// The environment that gives Dawn (the `webgpu` package) a software WebGPU adapter on a machine
// without a GPU: the SwiftShader Vulkan driver and Vulkan loader bundled in @sparticuz/chromium.
// Correct, ~50x slower than wasm: for tests, never for speed. A machine whose Vulkan already
// works (VK_ICD_FILENAMES set, or a loader on the library path with a driver) is left alone.
//   eval "$(node scripts/webgpu-env.mjs)"     then: eqprop train --backend webgpu …
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledChromium } from './bundled-chromium.mjs';

/**
 * `{ env }`: the variables to set before the process that loads Dawn starts (the dynamic linker
 * reads LD_LIBRARY_PATH once, at start), or `{ missing }` saying why there is no software adapter.
 */
export function swiftshaderEnv(base = process.env) {
  const bundle = bundledChromium();
  if ('missing' in bundle) return { missing: bundle.missing };
  const runtime = base.XDG_RUNTIME_DIR ?? join(tmpdir(), 'eqprop-xdg-runtime');
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const libraryPath = [bundle.vulkanDir, base.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return {
    env: { VK_ICD_FILENAMES: join(bundle.vulkanDir, 'vk_swiftshader_icd.json'), LD_LIBRARY_PATH: libraryPath, XDG_RUNTIME_DIR: runtime },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = swiftshaderEnv();
  if ('missing' in r) {
    console.error(`no software WebGPU adapter: ${r.missing}`);
    process.exit(1);
  }
  for (const [k, v] of Object.entries(r.env)) console.log(`export ${k}=${JSON.stringify(v)}`);
}
