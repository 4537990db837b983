import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { EqpropError } from './errors.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow', 'webgl', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** wasm in Node (fast, always installed); `tensorflow` only when the user installed tfjs-node. */
export function defaultBackend(): BackendName {
  return 'wasm';
}

export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

/**
 * Selects and initialises a tfjs backend. `tensorflow` loads the optional peer dependency
 * `@tensorflow/tfjs-node`; a missing package or an unknown name is a one-line EqpropError.
 */
export async function setupBackend(name: string = defaultBackend()): Promise<BackendName> {
  if (!isBackendName(name)) {
    throw new EqpropError('E_BACKEND', `unknown backend "${name}": expected one of ${BACKENDS.join(', ')}`);
  }
  // optional backends load only when asked for and not already registered; the module name is a
  // variable so that bundlers (Vite) do not try to resolve packages the user has not installed
  const optional: Partial<Record<BackendName, string>> = { tensorflow: '@tensorflow/tfjs-node', webgpu: '@tensorflow/tfjs-backend-webgpu' };
  const pkg = optional[name];
  if (pkg && !tf.findBackendFactory(name)) {
    try {
      await import(/* @vite-ignore */ pkg);
    } catch {
      throw new EqpropError('E_BACKEND', `backend "${name}" needs the optional package ${pkg}: install it with \`pnpm add ${pkg}\``);
    }
  }
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
  return name;
}

export { tf };
