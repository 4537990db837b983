import { setupBackend, type BackendName } from '@eqprop/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** The GPU's name when WebGL runs on real hardware; null for software renderers or no WebGL. */
export function detectGpu(): string | null {
  try {
    const gl = document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer) ? null : renderer;
  } catch {
    return null;
  }
}

/**
 * Starts tfjs: the wasm backend (binaries served from our own folder, so it works offline)
 * unless a real GPU is present, then webgl. `requested` (URL ?backend=) overrides the choice.
 */
export async function startBackend(requested: string | null): Promise<{ name: BackendName; why: string }> {
  setWasmPaths(new URL('generated/tfjs-wasm/', document.baseURI).href);
  const gpu = detectGpu();
  const plan: [string, string][] = requested
    ? [[requested, 'chosen by ?backend=']]
    : gpu
      ? [['webgl', `GPU: ${gpu}`]]
      : [];
  plan.push(['wasm', gpu || requested ? 'fallback' : 'no hardware GPU found'], ['cpu', 'last resort']);
  let lastError: unknown;
  for (const [name, why] of plan) {
    try {
      return { name: await setupBackend(name), why };
    } catch (e) {
      lastError = e;
      console.warn(`backend ${name} failed:`, e);
    }
  }
  throw lastError;
}
