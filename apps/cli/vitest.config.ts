import { defineConfig, mergeConfig } from 'vitest/config';
import { swiftshaderEnv } from '../../scripts/webgpu-env.mjs';
import { sharedConfig } from '../../vitest.shared.ts';

// The WebGPU suites run Dawn in the test workers, which read LD_LIBRARY_PATH when they start: set
// the software adapter's environment here, before they are forked, unless the machine names its
// own Vulkan driver (a GPU machine running scripts/device-check.sh).
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
  const found = swiftshaderEnv();
  if ('env' in found) Object.assign(process.env, found.env);
}

export default mergeConfig(sharedConfig, defineConfig({}));
