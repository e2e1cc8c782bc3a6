#!/usr/bin/env bash
# bench_serve_live.sh [DATA] [REPS] — what serving a run live costs its epochs: `digitnet mlp`
# (784-300-100-10 ReLU, batch 64, SGD momentum, 60 000 samples, --threads 2) with and without
# `--serve 127.0.0.1:0`, the served run watched as the page watches it (/api/run read once, then
# an event stream open on /api/events until the run is done), the two interleaved run by run so
# that the machine's noise falls on both alike.
# seconds = the mean epoch time of the run's --metrics (training only) over epochs 2 … N
# (BENCH_SERVE_LIVE_EPOCHS, default 4), median over REPS runs after a warm-up. Target (issue 20): serving slows an epoch by at most 2 %.
# Prints ROW lines and one TARGET line (bench/run.sh collects them). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
epochs=${BENCH_SERVE_LIVE_EPOCHS:-4}
bin=${DIGITNET:-build/digitnet}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench_serve_live: $bin is missing: build first (make build)" >&2; exit 1; }
"$bin" --version | grep -qw http || { echo "bench_serve_live: digitnet built without libmicrohttpd" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_serve_live_XXXXXX")
watcher=
trap '[ -z "$watcher" ] || kill "$watcher" 2>/dev/null; rm -rf "$work"' EXIT
. bench/lib.sh # bench_row
workload="mlp epoch served live (784-300-100-10, batch 64, 2 threads)"
net=(--data "$data" --hidden 300,100 --batch 64 --epochs "$epochs" --threads 2 --metrics "$work/m.csv")

# The mean of epochs 2 … N: the first overlaps the watcher's start (a Python interpreter).
epoch_seconds() { "$py" -c 'import csv, sys; r = list(csv.DictReader(open(sys.argv[1])))[1:]; print(sum(float(x["seconds"]) for x in r) / len(r))' "$1"; }

# The page's load on a served run: its event stream, open until the run is done (the page
# reads /api/run once, on loading). The stream's end is how the bench learns that the run
# is over, so nothing polls the machine meanwhile (a polling loop here would cost the
# served run alone).
watch_like_the_page() {
  "$py" - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "api/run", timeout=60) as r:
    r.read()
with urllib.request.urlopen(sys.argv[1] + "api/events", timeout=600) as s:
    for line in s:
        if line.startswith(b"event: done"):
            break
PY
}

served_run() {
  env --default-signal=INT "$bin" mlp "${net[@]}" --serve 127.0.0.1:0 >"$work/out" 2>&1 &
  local pid=$! url=
  for _ in $(seq 400); do # the address is printed before the first epoch
    url=$(sed -n 's|^digitnet serve: listening on \(http://[^ ]*/\)$|\1|p' "$work/out")
    [ -n "$url" ] && break
    sleep 0.01
  done
  [ -n "$url" ] || { echo "bench_serve_live: no address: $(cat "$work/out")" >&2; kill "$pid"; return 1; }
  watch_like_the_page "$url" & watcher=$!
  wait "$watcher"; watcher=
  kill -TERM "$pid"; wait "$pid"
}

for i in $(seq 0 "$reps"); do
  echo "... digitnet mlp, $epochs epochs, plain, run $i of $reps" >&2
  "$bin" mlp "${net[@]}" >"$work/out" 2>&1
  [ "$i" -eq 0 ] || epoch_seconds "$work/m.csv" >>"$work/plain.times"
  echo "... digitnet mlp, $epochs epochs, --serve with a watcher, run $i of $reps" >&2
  served_run
  [ "$i" -eq 0 ] || epoch_seconds "$work/m.csv" >>"$work/served.times"
done
bench_row "$workload" "digitnet, no --serve" "mean of epochs 2 to $epochs" <"$work/plain.times"
bench_row "$workload" "digitnet, --serve, watched" "an event stream open, as the page" <"$work/served.times"
"$py" - "$work/plain.times" "$work/served.times" <<'PY'
import statistics, sys
plain, served = (statistics.median(float(x) for x in open(f)) for f in sys.argv[1:3])
r = served / plain
print("TARGET\tmlp --serve, epoch served and watched / plain: %.3fx (goal <= 1.02x): %s" % (r, "met" if r <= 1.02 else "NOT met"))
PY
