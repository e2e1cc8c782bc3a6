#!/usr/bin/env bash
# cli_onnx.sh — `digitnet export MODEL --onnx FILE`, judged by real ONNX tools,
# not by digitnet:
#   onnx.checker.check_model(full_check=True) of Debian's python3-onnx accepts
#   each file (tests/lib/onnx_check.py: also names, types, shapes, producer,
#   metadata), one per hidden activation (relu with two hidden layers, tanh,
#   sigmoid), an mse network without hidden layers (Sigmoid output) and a
#   perceptron (--npy and --onnx in one command);
#   ONNX Runtime (npm onnxruntime-node, scripts/fetch_onnxruntime.sh) runs the
#   10 000 test images through each and agrees with digitnet
#   (tests/lib/onnx_run.js): the same classes as `digitnet predict`,
#   probabilities within 1e-5 of `digitnet activations`, a perceptron's
#   scores within their float32 input's rounding; the measured differences
#   are printed;
#   a missing, truncated or foreign model file, or an output folder that
#   does not exist: non-zero exit, one line, no output file (and a file
#   already there untouched).
# python3-onnx and onnxruntime-node come from scripts/deps.sh test: without
# them the test fails and says so. Skipped (77) only without MNIST.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}") # absolute: the test works in its scratch folder
SRC=$(realpath "${DN_SOURCE_DIR:-$(dirname "$0")/..}") # absolute, as DATA
PY=/usr/bin/python3
ORT=${DN_ONNXRUNTIME:-$SRC/.cache/onnxruntime} # where scripts/fetch_onnxruntime.sh installs

[ -e "$DATA/t10k-images-idx3-ubyte" ] || [ -e "$DATA/t10k-images-idx3-ubyte.gz" ] ||
  { echo "cli_onnx: no MNIST in $DATA, skipped"; exit 77; }
source "$SRC/tests/lib/workdir.sh"
dn_workdir cli_onnx

export NODE_PATH=$ORT/node_modules
missing=
"$PY" -c 'import onnx' 2>/dev/null || missing+=" python3-onnx (apt)"
node -e 'require("onnxruntime-node")' >/dev/null 2>&1 || missing+=" onnxruntime-node (npm, in $ORT)"
if [ -n "$missing" ]; then
  echo "FAIL: cli_onnx needs$missing: scripts/deps.sh test installs them"
  exit 1
fi
echo "cli_onnx: python3-onnx $("$PY" -c 'import onnx; print(onnx.__version__)'), onnxruntime-node" \
  "$(node -p 'require(process.env.NODE_PATH + "/onnxruntime-node/package.json").version') on node $(node --version)"
version=$("$DIGITNET" --version | awk '{print $2}')
images=$DATA/t10k-images-idx3-ubyte
[ -e "$images" ] || images=$images.gz

# run NAME CMD...: CMD must succeed; its output goes to NAME.out
run() { local name=$1; shift; "$@" >"$name.out" 2>&1 || fail "$name: $* exited $?: $(tail -3 "$name.out")"; }

# check NAME KIND OPS LAST_LAYER [W.npy]: the export of NAME.st, judged by both tools
check() {
  local name=$1 kind=$2 ops=$3 last=$4 w=${5:-}
  [ -s "$name.onnx" ] || { fail "$name: no $name.onnx"; return; }
  "$PY" "$SRC/tests/lib/onnx_check.py" "$name.onnx" "$kind" "$version" "$ops" || fail "$name: onnx_check"
  run "$name.act" "$DIGITNET" activations "$name.st" --data "$DATA" --layer "$last" --count 10000 --npy "$name.ref.npy"
  "$DIGITNET" predict "$name.st" "$images" >"$name.pred" || fail "$name: digitnet predict failed"
  node "$SRC/tests/lib/onnx_run.js" "$name" "$name.onnx" "$DATA" "$name.ref.npy" "$name.pred" $w || fail "$name: onnx_run"
}

train=(--data "$DATA" --train-size 3000 --epochs 2 --threads 1 --quiet)
run relu "$DIGITNET" mlp "${train[@]}" --hidden 64,32 --activation relu --save relu.st
run tanh "$DIGITNET" mlp "${train[@]}" --hidden 32 --activation tanh --save tanh.st
run sigmoid "$DIGITNET" mlp "${train[@]}" --hidden 32 --activation sigmoid --save sigmoid.st
run mse "$DIGITNET" mlp "${train[@]}" --hidden "" --loss mse --save mse.st
run perceptron "$DIGITNET" pta --data "$DATA" --train-size 3000 --max-epochs 3 --quiet --save perceptron.st

for name in relu tanh sigmoid mse; do
  run "$name.export" "$DIGITNET" export "$name.st" --onnx "$name.onnx"
  grep -q "^wrote $name.onnx: ONNX, input image (N, 784) float, output probabilities (N, 10)$" "$name.export.out" ||
    fail "$name: export said: $(cat "$name.export.out")"
done
check relu mlp Gemm,Relu,Gemm,Relu,Gemm,Softmax 2
check tanh mlp Gemm,Tanh,Gemm,Softmax 1
check sigmoid mlp Gemm,Sigmoid,Gemm,Softmax 1
check mse mlp Gemm,Sigmoid 0

# the perceptron: --npy and --onnx in one command (W.npy gives the scores' tolerance)
run perceptron.export "$DIGITNET" export perceptron.st --npy pnpy --onnx perceptron.onnx
grep -q "^wrote 2 files to pnpy: W.npy digitnet-model.txt$" perceptron.export.out && grep -q "^wrote perceptron.onnx: .* output scores" perceptron.export.out ||
  fail "perceptron: export said: $(cat perceptron.export.out)"
check perceptron perceptron Cast,Gemm 0 pnpy/W.npy

# --- bad input: non-zero, one line, no output file; a file already there stays as it was
head -c 2000 relu.st >truncated.st
echo "not a model" >foreign.st
cp tanh.onnx kept.onnx
refuse() { # refuse WHAT OUT MODEL: exporting MODEL to OUT must fail cleanly
  local what=$1 out=$2 rc=0
  "$DIGITNET" export "$3" --onnx "$out" >refused.out 2>refused.err || rc=$?
  [ $rc -ne 0 ] || fail "$what: exit 0"
  [ "$(wc -l <refused.err)" -eq 1 ] || fail "$what: not one line: $(cat refused.err)"
  [ ! -s refused.out ] || fail "$what: stdout: $(cat refused.out)"
  echo "cli_onnx: $what: exit $rc: $(cat refused.err)"
}
refuse "missing model" missing.onnx nosuch.st
[ ! -e missing.onnx ] || fail "missing model: missing.onnx written"
refuse "truncated model" truncated.onnx truncated.st
[ ! -e truncated.onnx ] || fail "truncated model: truncated.onnx written"
refuse "foreign file" kept.onnx foreign.st
cmp -s kept.onnx tanh.onnx || fail "foreign file: the ONNX file already there was changed"
refuse "no such folder" nodir/out.onnx relu.st
[ ! -e nodir ] || fail "no such folder: nodir made"
leftovers=$(find . -name '*.tmp.*')
[ -z "$leftovers" ] || fail "temporary files left behind: $leftovers"
rc=0
"$DIGITNET" export relu.st >/dev/null 2>refused.err || rc=$?
[ $rc = 2 ] && grep -q "export needs --npy DIR, --onnx FILE or --c-source FILE" refused.err || fail "export without a flag: exit $rc: $(cat refused.err)"
"$DIGITNET" export --help | grep -q -- "--onnx FILE" || fail "export --help does not list --onnx"

[ $failures = 0 ] && echo "cli_onnx: all passed" || { echo "cli_onnx: $failures failed"; exit 1; }
