#!/usr/bin/env bash
# bench_pta_cli.sh [DATA] [REPS] — a PTA epoch at n = 60000 as a user sees it:
# the wall time of `digitnet pta --train-size 60000` run for 21 epochs minus
# the same for 1 epoch, over 20, so that start-up, loading and the final
# report cancel and what is left is what the program spends per epoch (20
# epochs, not the issue's 3: a few-ms epoch drowns in the noise of a
# process's start otherwise — measured, 3 made the spread ±15 ms),
# beside bench_pta's in-process figure for the kernel (row "digitnet
# float32", all cores). Prints one ROW line (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
bin=${DIGITNET:-build/digitnet}
[ -x "$bin" ] || { echo "bench_pta_cli: $bin is missing: build first (make build)" >&2; exit 1; }
. bench/lib.sh # bench_row
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_pta_cli_XXXXXX")
trap 'rm -rf "$work"' EXIT

wall() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }'; }
run=(pta --data "$data" --train-size 60000 --epsilon 0 --quiet)
"$bin" "${run[@]}" --max-epochs 1 >/dev/null # warm-up: the page cache
for i in $(seq 1 "$reps"); do
  echo "... digitnet pta from outside, 1 and 21 epochs, run $i of $reps" >&2
  one=$(wall "$bin" "${run[@]}" --max-epochs 1)
  many=$(wall "$bin" "${run[@]}" --max-epochs 21)
  awk -v a="$many" -v b="$one" 'BEGIN { print (a - b) / 20 }'
done >"$work/times"
bench_row "PTA epoch n=60000" "digitnet float32, from outside" \
  "the program's wall time as a user runs it: (21-epoch run - 1-epoch run) / 20, all cores" <"$work/times"
