#!/usr/bin/env bash
# cli_serve_api.sh — `digitnet serve` answers as the CLI does: a small MLP
# (64,32) and a perceptron are trained and served (with the MLP a second
# time, which must be named mlp-2); tests/lib/serve_check.py then checks
#   GET /api/models: the three models, kinds, layers, activations, metadata;
#   GET / and /static/index.html: web/index.html as text/html;
#   POST /api/predict with the first 1000 test images as PNG files: digit and
#     probabilities equal `digitnet predict --json` on the same files within
#     1e-6; the hidden activations have the layer sizes; a perceptron's
#     contribution rows sum to its scores (1e-4 relative) and the digit is
#     their argmax; the first 200 images as raw 784-byte bodies likewise
#     (against predict --json on the IDX file), "input" echoing them;
#   GET /api/weights: every layer equals `digitnet export --npy` exactly;
#   GET /api/run: {"state": "none"};
# and SIGINT stops the server within 2 s, exit 0.
# Skipped (77) without MNIST; built without libmicrohttpd, `serve` must be
# refused with one line (then 77 too).
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
SRC=$(realpath "${DN_SOURCE_DIR:-$(dirname "$0")/..}")
export DN_SOURCE_DIR=$SRC
PY=/usr/bin/python3
source "$SRC/tests/lib/workdir.sh"
source "$SRC/tests/lib/serve.sh"
dn_workdir cli_serve_api

if ! "$DIGITNET" --version | grep -qw http; then
  rc=0
  "$DIGITNET" serve x.st >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q libmicrohttpd err.txt ||
    { echo "FAIL: serve in a build without libmicrohttpd: exit $rc, $(cat err.txt)"; exit 1; }
  echo "cli_serve_api: built without libmicrohttpd, serve refused; skipped"
  exit 77
fi
[ -e "$DATA/t10k-images-idx3-ubyte" ] || [ -e "$DATA/t10k-images-idx3-ubyte.gz" ] ||
  { echo "cli_serve_api: no MNIST in $DATA, skipped"; exit 77; }
images=$DATA/t10k-images-idx3-ubyte
[ -e "$images" ] || images=$images.gz
export IMAGES=$images

run() { local name=$1; shift; "$@" >"$name.out" 2>&1 || fail "$name: $* exited $?: $(tail -3 "$name.out")"; }
run mlp "$DIGITNET" mlp --data "$DATA" --train-size 2000 --epochs 1 --hidden 64,32 --threads 1 --quiet --save mlp.st
run pta "$DIGITNET" pta --data "$DATA" --train-size 2000 --max-epochs 2 --quiet --save pta.st
run pngs "$PY" "$SRC/tests/lib/serve_check.py" pngs "$images" 1000 png
"$DIGITNET" predict mlp.st png/*.png --json >mlp.png.json || fail "predict --json mlp on PNGs"
"$DIGITNET" predict pta.st png/*.png --json >pta.png.json || fail "predict --json pta on PNGs"
"$DIGITNET" predict mlp.st "$images" --json >mlp.idx.json || fail "predict --json mlp on IDX"
"$DIGITNET" predict pta.st "$images" --json >pta.idx.json || fail "predict --json pta on IDX"
[ "$(wc -l <mlp.png.json)" -eq 1000 ] || fail "predict --json wrote $(wc -l <mlp.png.json) lines for 1000 PNGs"
run export_mlp "$DIGITNET" export mlp.st --npy mlp.npy
run export_pta "$DIGITNET" export pta.st --npy pta.npy
[ "$failures" -eq 0 ] || { echo "cli_serve_api: $failures failure(s) before serving"; exit 1; }

mkdir -p same && cp mlp.st same/mlp.st
if dn_serve_start mlp.st pta.st same/mlp.st; then
  "$PY" "$SRC/tests/lib/serve_check.py" api "$url" . || fail "serve_check api"
  dn_serve_stop
fi
[ "$failures" -eq 0 ] || { echo "cli_serve_api: $failures failure(s)"; exit 1; }
echo "cli_serve_api: ok"
