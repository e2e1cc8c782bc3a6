#!/usr/bin/env bash
# Installs ONNX Runtime for Node.js, onnxruntime-node@1.20.1 from the npm registry,
# into .cache/onnxruntime (or $1): tests/cli_onnx.sh runs the exported models in it.
# The package carries its CPU library for Linux x64 (bin/napi-v3/linux/x64), so
# --ignore-scripts: its install script only adds the CUDA provider, fetched from a
# host other than the registry. Quiet and quick when that version already loads.
set -euo pipefail
version=1.20.1
dest=${1:-$(cd "$(dirname "$0")/.." && pwd)/.cache/onnxruntime}
loads() { # the installed package is this version and its native binding loads
  [ "$(node -p "require('$dest/node_modules/onnxruntime-node/package.json').version" 2>/dev/null)" = $version ] &&
    node -e "require('$dest/node_modules/onnxruntime-node').InferenceSession.create" >/dev/null 2>&1
}
loads && exit 0
command -v npm >/dev/null || { echo "fetch_onnxruntime: npm is not installed (scripts/deps.sh test installs it)" >&2; exit 1; }
echo "onnxruntime: installing onnxruntime-node@$version from $(npm config get registry 2>/dev/null) into $dest"
mkdir -p "$dest"
# its own package.json, so that npm installs here and not in a project above
[ -f "$dest/package.json" ] || echo '{"private": true, "description": "digitnet test dependency"}' >"$dest/package.json"
log=$(mktemp); trap 'rm -f "$log"' EXIT
(cd "$dest" && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \
  "onnxruntime-node@$version" >"$log" 2>&1) || {
  echo "fetch_onnxruntime: 'npm install onnxruntime-node@$version' failed; it said:" >&2
  tail -n 12 "$log" | sed 's/^/    /' >&2
  exit 1
}
loads || { echo "fetch_onnxruntime: onnxruntime-node@$version installed in $dest, but its native binding does not load here:" >&2
  node -e "require('$dest/node_modules/onnxruntime-node')" 2>&1 | tail -n 5 | sed 's/^/    /' >&2; exit 1; }
echo "onnxruntime: onnxruntime-node@$version loads ($dest)"
