import { EqpropError } from './errors.js';

/** What a WebGPU adapter says of itself (GPUAdapterInfo), and whether it is a software renderer. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** SwiftShader, llvmpipe/lavapipe or a fallback adapter: correct, never fast. */
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|microsoft basic/i;

/** A WebGPU adapter as we use it: its info (the rest of GPUAdapter is tfjs-webgpu's business). */
interface GpuAdapterLike {
  info?: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>>;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

export function describeAdapter(adapter: GpuAdapterLike): AdapterInfo {
  const info = adapter.info ?? {};
  const text = (k: 'vendor' | 'architecture' | 'device' | 'description') => String(info[k] ?? '');
  const out = { vendor: text('vendor'), architecture: text('architecture'), device: text('device'), description: text('description') };
  const software = Boolean(adapter.isFallbackAdapter) || SOFTWARE.test(Object.values(out).join(' '));
  return { ...out, software };
}

/** One line naming an adapter: "nvidia hopper (NVIDIA H100 80GB HBM3, driver …)". */
export function adapterLabel(a: AdapterInfo): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown vendor';
  const detail = [a.device, a.description].filter(Boolean).join(', ');
  return `${name}${detail ? ` (${detail})` : ''}${a.software ? ' [software]' : ''}`;
}

const isNode = typeof process !== 'undefined' && Boolean(process.versions?.node);

/**
 * The WebGPU entry point: the browser's `navigator.gpu`, or in Node the one the optional `webgpu`
 * package (Dawn's Node binding) creates, installed as `navigator.gpu` with Dawn's globals
 * (GPUBufferUsage …) for tfjs-webgpu. A missing package is a one-line EqpropError.
 */
export async function webgpuEntry(): Promise<GpuLike> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!isNode) throw new EqpropError('E_BACKEND', 'backend "webgpu": this browser has no WebGPU (navigator.gpu is undefined)');
  let dawn: { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
  const pkg = 'webgpu';
  try {
    dawn = (await import(/* @vite-ignore */ pkg)) as typeof dawn;
  } catch (e) {
    throw new EqpropError(
      'E_BACKEND',
      `backend "webgpu" in Node needs the optional package webgpu (Dawn's Node binding): install it with \`pnpm add webgpu@0.6.2\` (${firstLine(e)})`,
    );
  }
  // without a Vulkan loader Dawn only prints warnings and finds nothing: say so, and leave Dawn unstarted
  if (process.platform === 'linux' && !hasVulkanLoader()) {
    throw new EqpropError('E_BACKEND', `backend "webgpu": no WebGPU adapter: ${NO_LOADER}`);
  }
  const gpu = dawn.create([]);
  Object.assign(globalThis, dawn.globals);
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return gpu;
}

/**
 * The adapter WebGPU would give tfjs (high-performance preference), or an EqpropError saying why
 * there is none. In Node, Dawn runs on Vulkan: the error tells a missing Vulkan loader
 * (libvulkan.so.1) from a loader that found no driver (VK_ICD_FILENAMES names the driver's manifest).
 */
export async function findAdapter(): Promise<AdapterInfo> {
  const gpu = await webgpuEntry();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter) return describeAdapter(adapter);
  throw new EqpropError('E_BACKEND', `backend "webgpu": no WebGPU adapter: ${isNode ? vulkanDiagnosis() : 'the browser offers none'}`);
}

const NO_LOADER = 'no Vulkan loader (libvulkan.so.1 is not on the library path: install libvulkan1 or set LD_LIBRARY_PATH)';

/** Whether the dynamic linker finds libvulkan.so.1, as Dawn will look for it. */
function hasVulkanLoader(): boolean {
  try {
    // loading the loader as an addon fails either way; the message tells whether the file was found
    process.dlopen({ exports: {} } as NodeJS.Module, 'libvulkan.so.1');
  } catch (e) {
    return !/cannot open shared object|no such file/i.test(String((e as Error).message));
  }
  return true;
}

/** Why Dawn found no Vulkan device: no loader, or a loader without a usable driver. */
function vulkanDiagnosis(): string {
  if (process.platform !== 'linux') return `Dawn found no GPU on ${process.platform}`;
  if (!hasVulkanLoader()) return NO_LOADER;
  const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (icd) return `the Vulkan loader found no usable driver in VK_ICD_FILENAMES=${icd}`;
  return "no Vulkan driver (ICD): install the GPU vendor's Vulkan driver, or point VK_ICD_FILENAMES at its manifest";
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}
