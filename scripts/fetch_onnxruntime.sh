#!/usr/bin/env bash
# Installs ONNX Runtime for Node.js, onnxruntime-node@1.20.1 from the npm registry,
# into .cache/onnxruntime (or $1): tests/cli_onnx.sh runs the exported models in it.
# The package carries its CPU library for Linux x64 (bin/napi-v3/linux/x64), so no
# install script is needed (scripts/npm_fetch.sh skips them): its script only adds the
# CUDA provider, fetched from a host other than the registry. The check loads the
# native binding. Quiet and quick when that version already loads.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/npm_fetch.sh" onnxruntime onnxruntime-node 1.20.1 "${1:-$here/../.cache/onnxruntime}" InferenceSession.create
