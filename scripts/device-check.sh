#!/usr/bin/env bash
# The GPU check of eqprop, for a machine with a GPU, no network and no Node (the `device` machines).
#
#   bash scripts/device-check.sh prepare   here: builds .device/ (git-ignored, about 40 MiB): the CLI
#                                          and tfjs-webgpu as one file, Dawn's dawn.node, the tfjs
#                                          wasm binaries, this machine's node (xz), the Vulkan loader
#   bash scripts/device-check.sh run       there (carry .device): unpacks node, finds the Vulkan
#                                          loader and the NVIDIA driver, then runs `eqprop gpu-check`
#                                          (WebGPU against wasm: every term, solver, estimator and
#                                          four preset batches) and `eqprop bench --backend webgpu
#                                          --only accel`, and writes $OUT/device-check.json
#
# With the device tool: run(command: "bash scripts/device-check.sh run", carry: [".device"],
# timeout_s: 540). Each of its two parts is capped at 230 s, so it ends within 8 minutes.
# ONLY_CHECK / ONLY_BENCH narrow what runs (e.g. a quick try on the SwiftShader adapter here).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dev="$root/.device"

prepare() {
  cd "$root"
  export TURBO_TELEMETRY_DISABLED=1
  pnpm exec turbo run build --filter=eqprop... --output-logs=errors-only
  rm -rf "$dev" && mkdir -p "$dev/node_modules/webgpu/dist/linux-x64" "$dev/gl"
  local core="$root/packages/core"
  local webgpuBackend wasmDir esbuild
  webgpuBackend="$(cd "$core" && node -p "require.resolve('@tensorflow/tfjs-backend-webgpu')")"
  wasmDir="$(dirname "$(cd "$core" && node -p "require.resolve('@tensorflow/tfjs-backend-wasm')")")"
  esbuild="$(ls -d "$root"/node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -1)"
  # one file: Dawn as navigator.gpu first (tfjs-webgpu registers its backend only where navigator.gpu
  # exists when it loads), then the WebGPU backend, then the CLI (which runs on import)
  cat >"$dev/entry.mjs" <<EOF
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
await import('$webgpuBackend');
await import('$root/apps/cli/dist/cli.js');
EOF
  # emscripten (the wasm backend) and some CommonJS modules need require/__dirname in an ES module
  local banner="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
  "$esbuild" "$dev/entry.mjs" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --external:webgpu --external:@tensorflow/tfjs-node --banner:js="$banner" --outfile="$dev/cli.mjs"
  rm "$dev/entry.mjs"
  cp "$wasmDir"/*.wasm "$dev/"
  local dawn="$core/node_modules/webgpu"
  cp "$dawn/package.json" "$dawn/index.js" "$dev/node_modules/webgpu/"
  # the two big binaries travel compressed (the device tool carries 64 MiB, the working tree included)
  xz -T2 -6 -c "$dawn/dist/linux-x64/dawn.node" >"$dev/dawn.node.xz"
  xz -T2 -6 -c "$(command -v node)" >"$dev/node.xz"
  # the Vulkan loader, for a machine whose image has none (Debian's package; needs apt's network here)
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/eqprop-apt-lists)
  mkdir -p /tmp/eqprop-apt-lists/partial
  if apt-get "${o[@]}" update -qq >/dev/null 2>&1 && (cd "$dev/gl" && apt-get "${o[@]}" download -qq libvulkan1 >/dev/null 2>&1); then
    echo "device-check: Vulkan loader $(ls "$dev/gl")"
  else
    echo "device-check: could not download libvulkan1 (no apt network?): the GPU machine must have its own loader" >&2
  fi
  echo "device-check: $(du -sh "$dev" | cut -f1) in $dev — carry it: run(command: \"bash scripts/device-check.sh run\", carry: [\".device\"])"
}

run() {
  cd "$root"
  local out="${OUT:-$root/device-check-out}"
  mkdir -p "$out"
  [ -f "$dev/cli.mjs" ] || { echo "device-check: $dev/cli.mjs missing: run 'bash scripts/device-check.sh prepare' first and carry .device" >&2; exit 1; }
  local node=/tmp/eqprop-node dawn="$dev/node_modules/webgpu/dist/linux-x64/dawn.node"
  unxz() { if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; fi; }
  [ -x "$node" ] || { unxz "$dev/node.xz" "$node" && chmod +x "$node"; }
  [ -f "$dawn" ] || unxz "$dev/dawn.node.xz" "$dawn"
  # Vulkan: the loader (unpacked from the carried package when the image lacks it) and the driver
  # only on a GPU machine (it writes into /usr/lib): elsewhere there is no driver for it to load
  if [ -d /usr/local/nvidia ] || command -v nvidia-smi >/dev/null; then
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
      for f in "$dev"/gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
      ldconfig 2>/dev/null || true
    fi
  fi
  if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
      if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
    done
  fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/eqprop-xdg}"
  mkdir -p "$XDG_RUNTIME_DIR"
  (nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi") >"$out/gpu.txt"
  local rc=0
  set -o pipefail
  timeout 230 "$node" "$dev/cli.mjs" gpu-check --out "$out/equivalence.json" ${ONLY_CHECK:+--only "$ONLY_CHECK"} 2>&1 | tee "$out/gpu-check.log" || rc=$?
  timeout 230 "$node" "$dev/cli.mjs" bench --backend webgpu --only "${ONLY_BENCH:-accel}" ${BENCH_QUICK:+--quick} --out "$out/bench.json" 2>&1 | tee "$out/bench.log" || rc=$?
  "$node" -e '
    const fs = require("fs"), path = require("path"), out = process.argv[1];
    const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(out, f), "utf8")); } catch { return null; } };
    const eq = read("equivalence.json"), bench = read("bench.json");
    const doc = { date: new Date().toISOString(), gpu: fs.readFileSync(path.join(out, "gpu.txt"), "utf8").trim(),
      adapter: (eq && eq.adapter) || (bench && bench.adapter) || null,
      equivalence: eq && eq.checks.map((c) => ({ name: c.name, worst: c.worst, ok: c.failures.length === 0 && c.missing.length === 0 })),
      bench: bench && bench.results.map((r) => ({ name: r.name, value: r.value, unit: r.unit, detail: r.detail })) };
    fs.writeFileSync(path.join(out, "device-check.json"), JSON.stringify(doc, null, 2) + "\n");
    console.log("device-check: wrote " + path.join(out, "device-check.json"));' "$out"
  exit "$rc"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash scripts/device-check.sh prepare|run" >&2; exit 2 ;;
esac
