#!/usr/bin/env bash
# bench_serve.sh [DATA] [REPS] — the benchmark: predictions through `digitnet serve`'s
# API (POST /api/predict) beside `digitnet predict` on the same images, with an MLP
# 784-300-100-10 trained briefly (10 000 samples, one epoch: the speed, not the
# accuracy, is measured).
#
# The server runs once, on a free loopback port; tests/tools/serve_load (libcurl, 8
# threads each keeping one connection alive) posts BENCH_SERVE_REQUESTS (default
# 20 000) requests per repetition, cycling over the first 1 000 test images as
#   PNG bodies     28x28 8-bit greyscale PNGs, as MNIST has them (image/png),
#   raw bodies     the 784 bytes themselves (application/octet-stream),
#   canvas bodies  280x280 RGBA PNGs, black ink on white, what the page's canvas sends
#                  (the first 100 images; no target, the server scales them down).
# `digitnet predict` runs on the 10 000 test images of the IDX file (one process:
# model load, the batched forward pass, one line per image) and on the 1 000 PNG files
# (one process, each file decoded and preprocessed).
#
# seconds = the time of 10 000 predictions (the API: 10 000 / requests per second),
# median over REPS repetitions after a warm-up, the settings interleaved repetition by
# repetition. The note holds predictions per second and the median p50 and p99 latency.
# Target (issue 20): >= 5 000 predictions/s with p99 <= 5 ms, for PNG and raw bodies.
#
# Prints "ROW\tworkload\timplementation\tmedian_s\tmin_s\tmax_s\tnote" lines and one
# "TARGET\tline" per target (bench/run.sh collects both). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
requests=${BENCH_SERVE_REQUESTS:-20000}
build=${DN_BUILD_DIR:-build}
bin=${DIGITNET:-$build/digitnet}
load=${DN_SERVE_LOAD:-$build/tests/tools/serve_load}
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_serve_XXXXXX")
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
workload="predict 10000 images, mlp 784-300-100-10"
. bench/lib.sh # bench_row

[ -x "$bin" ] || { echo "bench_serve: $bin is missing: build first (make build)" >&2; exit 1; }
"$bin" serve --help >/dev/null 2>&1 || { echo "bench_serve: $bin has no serve command" >&2; exit 1; }
if [ ! -x "$load" ]; then # the tests are off in this build (DN_TESTS=OFF): the client is built here
  load=$work/serve_load
  cc -O2 -std=c11 -Wall -Wextra -Wpedantic tests/tools/serve_load.c -o "$load" -lcurl -pthread 2>"$work/cc.err" ||
    { echo "bench_serve: cannot build the load client (apt-get install libcurl4-openssl-dev): $(head -3 "$work/cc.err")" >&2; exit 1; }
fi
images=$data/t10k-images-idx3-ubyte
[ -e "$images" ] || images=$images.gz

echo "... training the model, writing the bodies" >&2
"$bin" mlp --data "$data" --train-size 10000 --epochs 1 --threads 1 --quiet --save "$work/mlp.safetensors" >/dev/null
"$py" tests/lib/mnist_pngs.py "$images" "$work/png" 1000
"$py" tests/lib/mnist_pngs.py "$images" "$work/raw" 1000 --raw
"$py" tests/lib/mnist_pngs.py "$images" "$work/canvas" 100 --scale 10 --rgba

"$bin" serve "$work/mlp.safetensors" --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's|^digitnet serve: listening on http://127\.0\.0\.1:\([0-9][0-9]*\)/$|\1|p' "$work/serve.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "bench_serve: the server did not say where it listens: $(cat "$work/serve.out" "$work/serve.err")" >&2; exit 1; }

# api KIND TYPE: one serve_load run over the KIND bodies; appends "seconds rps p50 p99" to KIND.api
api() {
  "$load" --url "http://127.0.0.1:$port/api/predict?model=mlp" --bodies "$work/$1" --content-type "$2" \
    --requests "$requests" --connections 8 --time-limit 300 >"$work/load.out" 2>"$work/load.err" ||
    { echo "bench_serve: $1 bodies: $(cat "$work/load.out") $(head -5 "$work/load.err")" >&2; exit 1; }
  sed -n 's/^serve_load: .* rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) .*/\1 \2 \3/p' "$work/load.out" |
    awk '{ printf "%.6f %s %s %s\n", 10000 / $1, $1, $2, $3 }' >>"$work/$1.api"
}
# cli NAME INPUT...: one `digitnet predict` process; appends the seconds for 10 000 of its predictions to NAME.cli
cli() {
  local name=$1 start end count
  shift
  start=$(date +%s.%N)
  "$bin" predict "$work/mlp.safetensors" "$@" >"$work/predict.out"
  end=$(date +%s.%N)
  count=$(wc -l <"$work/predict.out")
  awk -v s="$start" -v e="$end" -v n="$count" 'BEGIN { printf "%.6f\n", (e - s) * 10000 / n }' >>"$work/$name.cli"
}

for i in $(seq 0 "$reps"); do # run 0 is the warm-up
  echo "... run $i of $reps: the API (PNG, raw, canvas bodies), then digitnet predict" >&2
  api png image/png
  api raw application/octet-stream
  api canvas image/png
  cli idx "$images"
  cli pngfiles "$work"/png/*.png
  [ "$i" -gt 0 ] || rm -f "$work"/*.api "$work"/*.cli
done
kill -TERM "$server" # (a background job of a script starts with SIGINT ignored)
wait "$server" || echo "bench_serve: the server exited $? on SIGTERM" >&2
server=

# median COLUMN FILE
median() { sort -g -k"$1" "$2" | awk -v c="$1" '{ v[NR] = $c } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
row_api() { # KIND LABEL
  local rps p50 p99
  rps=$(median 2 "$work/$1.api") p50=$(median 3 "$work/$1.api") p99=$(median 4 "$work/$1.api")
  awk '{ print $1 }' "$work/$1.api" |
    bench_row "$workload" "digitnet serve, $2" "$(printf '%.0f' "$rps") predictions/s, p50 $p50 ms, p99 $p99 ms ($requests requests over 8 kept-alive connections)"
}
target() { # KIND LABEL: the median requests per second and the median p99 against the goal
  awk -v r="$(median 2 "$work/$1.api")" -v p="$(median 4 "$work/$1.api")" -v l="$2" 'BEGIN {
    printf "TARGET\tserve /api/predict, %s: %.0f predictions/s, p99 %.3f ms (goal >= 5000/s with p99 <= 5 ms): %s\n",
      l, r, p, (r >= 5000 && p <= 5) ? "met" : "NOT met" }'
}
row_api png "PNG bodies (28x28 grey)"
row_api raw "raw bodies (784 bytes)"
row_api canvas "canvas PNG bodies (280x280 RGBA)"
bench_row "$workload" "digitnet predict, one IDX file" "10000 images in one process (load, batched forward pass, a line each)" <"$work/idx.cli"
bench_row "$workload" "digitnet predict, PNG files" "1000 PNG files in one process, scaled to 10000" <"$work/pngfiles.cli"
target png "PNG bodies"
target raw "raw bodies"
