import { type BackendName, backendInfo, setupBackend } from '@eqprop/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/**
 * Starts tfjs: WebGPU where the browser offers a hardware GPU adapter, else the wasm backend
 * (binaries served from our own folder, so it works offline); a software adapter (SwiftShader) is
 * never chosen on its own. `requested` (URL ?backend=) overrides the choice: `?backend=webgpu`
 * forces WebGPU, software adapter included.
 */
export async function startBackend(requested: string | null): Promise<{ name: BackendName; why: string }> {
  setWasmPaths(new URL('generated/tfjs-wasm/', document.baseURI).href);
  // the WebGPU backend is a chunk of its own, loaded only where it may be used
  if (requested === 'webgpu' || (!requested && 'gpu' in navigator)) await import('@tensorflow/tfjs-backend-webgpu');
  const plan: [string, string][] = requested ? [[requested, 'chosen by ?backend=']] : [['auto', '']];
  plan.push(['wasm', 'fallback'], ['cpu', 'last resort']);
  let lastError: unknown;
  for (const [name, why] of plan) {
    try {
      const started = await setupBackend(name);
      const info = backendInfo();
      const on = info.adapter ? ` on ${info.adapter.vendor} ${info.adapter.architecture}`.trimEnd() : '';
      return { name: started, why: `${why || info.why}${on}` };
    } catch (e) {
      lastError = e;
      console.warn(`backend ${name} failed:`, e);
    }
  }
  throw lastError;
}
