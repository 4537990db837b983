import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { EqpropError } from './errors.js';
import { type AdapterInfo, adapterLabel, findAdapter } from './webgpu-adapter.js';
import { registerWebgpuKernelFixes } from './webgpu-kernels.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'webgl', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
/** What a user may ask for: a backend, or `auto` (WebGPU on a hardware adapter, else wasm). */
export type BackendRequest = BackendName | 'auto';

/** The backend in use: its name, why it was chosen (for `auto`), and the WebGPU adapter it runs on. */
export interface BackendInfo {
  name: BackendName;
  why: string;
  adapter?: AdapterInfo;
}

let current: BackendInfo | undefined;

/** The backend the last setupBackend started, with its adapter (for run headers, summaries, bench JSON). */
export function backendInfo(): BackendInfo {
  return current ?? { name: tf.getBackend() as BackendName, why: 'set outside setupBackend' };
}

/** One line for a run header: "webgpu on nvidia hopper (…)" or "wasm (no hardware GPU: …)". */
export function describeBackend(info: BackendInfo = backendInfo()): string {
  const on = info.adapter ? ` on ${adapterLabel(info.adapter)}` : '';
  return `${info.name}${on}${info.why ? ` — ${info.why}` : ''}`;
}

/** wasm in Node (fast, always installed); `tensorflow` only when the user installed tfjs-node. */
export function defaultBackend(): BackendName {
  return 'wasm';
}

export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

/**
 * Selects and initialises a tfjs backend. `tensorflow` loads the optional peer dependency
 * `@tensorflow/tfjs-node`; `webgpu` loads `@tensorflow/tfjs-backend-webgpu` and, in Node, the
 * `webgpu` package (Dawn); `auto` takes WebGPU when its adapter is a hardware GPU, else wasm,
 * and says why (backendInfo). A missing package, no adapter or an unknown name is a one-line
 * EqpropError naming which.
 */
export async function setupBackend(name: string = defaultBackend()): Promise<BackendName> {
  if (name === 'auto') return setupAuto();
  if (!isBackendName(name)) {
    throw new EqpropError('E_BACKEND', `unknown backend "${name}": expected one of ${BACKENDS.join(', ')} or auto`);
  }
  const adapter = name === 'webgpu' ? await findAdapter() : undefined;
  await start(name);
  current = { name, why: '', adapter };
  return name;
}

/** `auto`: WebGPU on a hardware adapter; a software one (SwiftShader, llvmpipe) or none means wasm. */
async function setupAuto(): Promise<BackendName> {
  let why: string;
  try {
    const adapter = await findAdapter();
    if (!adapter.software) {
      await start('webgpu');
      current = { name: 'webgpu', why: `auto: hardware GPU adapter ${adapterLabel(adapter)}`, adapter };
      return 'webgpu';
    }
    why = `auto: the only WebGPU adapter is a software renderer (${adapterLabel(adapter)})`;
  } catch (e) {
    why = `auto: ${(e as Error).message.replace(/^backend "webgpu"(: | in Node )?/, '')}`;
  }
  await start('wasm');
  current = { name: 'wasm', why: `${why}; using wasm` };
  return 'wasm';
}

async function start(name: BackendName): Promise<void> {
  // optional backends load only when asked for and not already registered; the module name is a
  // variable so that bundlers (Vite) do not try to resolve packages the user has not installed
  const optional: Partial<Record<BackendName, string>> = { tensorflow: '@tensorflow/tfjs-node', webgpu: '@tensorflow/tfjs-backend-webgpu' };
  const pkg = optional[name];
  if (pkg && !tf.findBackendFactory(name)) {
    try {
      await import(/* @vite-ignore */ pkg);
    } catch {
      throw new EqpropError('E_BACKEND', `backend "${name}" needs the optional package ${pkg}: install it with \`pnpm add ${pkg}@4.22.0\``);
    }
  }
  if (name === 'webgpu') registerWebgpuKernelFixes();
  // the cpu backend greets Node users with a banner about tfjs-node; we choose backends on purpose
  if (name === 'cpu') tf.env().set('IS_TEST', true);
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    throw new EqpropError('E_BACKEND', `backend "${name}" failed to start: ${(e as Error).message}`);
  }
  if (!ok || tf.getBackend() !== name) {
    throw new EqpropError('E_BACKEND', `backend "${name}" is not available in this environment`);
  }
}

export { tf };
