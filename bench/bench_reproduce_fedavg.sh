#!/usr/bin/env bash
# bench_reproduce_fedavg.sh [DATA] — the wall time of the quick FedAvg reproduction,
# `digitnet reproduce --experiment fedavg --quick` (McMahan et al.'s MNIST 2NN, C = 0.1,
# IID and non-IID, to 97 % test accuracy, its default 2 worker processes): one run, it
# takes minutes (target: under 3 minutes on this 2-core machine). The note gives the
# rounds each cell took. Prints one "ROW\t..." line (bench/run.sh collects it).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
bin=${DIGITNET:-build/digitnet}
[ -x "$bin" ] || { echo "bench_reproduce_fedavg: $bin is missing: build first (make build)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_repro_XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "... reproduce --experiment fedavg --quick" >&2
t0=$(date +%s.%N)
"$bin" reproduce --experiment fedavg --quick --quiet --data "$data" --out "$work/out" >"$work/out.txt"
t1=$(date +%s.%N)
cells=$(awk '$1 == "iid" || $1 == "noniid" { printf "%s%s C=%s: %s rounds (lr %s)", sep, $1, $2, $3, $4; sep = "; " }' "$work/out.txt")
seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
printf 'ROW\tfedavg quick reproduction (C=0.1, IID + non-IID, to 97%%)\tdigitnet\t%s\t%s\t%s\t%s\n' \
  "$seconds" "$seconds" "$seconds" "$cells"
