import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const absent = fileURLToPath(new URL('./src/absent-backend.ts', import.meta.url));

export default defineConfig({
  // relative asset URLs: dist/ works from any folder of any static server
  base: './',
  resolve: {
    alias: { '@tensorflow/tfjs-node': absent, webgpu: absent },
    // one copy of tfjs, so setWasmPaths reaches the wasm backend that @eqprop/core registers
    dedupe: ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu'],
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 4000 },
});
