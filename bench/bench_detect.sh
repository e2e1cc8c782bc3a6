#!/usr/bin/env bash
# bench_detect.sh [DATA] [REPS] — the benchmark: what detecting adversaries costs a
# federated round. McMahan et al.'s 2NN setting (784-200-200-10 ReLU, 100 IID clients
# of 600 samples, C = 0.1, E = 1, B = 10, lr 0.1), merged by the mean: once without
# detection and once with each detector (--detect krum, cosine, norm; fltrust with a
# root set of 100, whose server training is part of its cost), in one process each,
# the settings interleaved repetition by repetition so that the machine's noise falls
# on all alike. No client attacks: with attackers the runs without detection train a
# different (damaged) model, whose training costs differently (the kernels skip the
# ReLU's zeros), and the ratio would measure that too. The detection line of each run
# is the honest clients' false positives.
#
# seconds = a round's time as the metrics CSV records it (the clients' training, the
# attack, the screening and the merge; the test evaluation is not in it), the mean over
# BENCH_DETECT_ROUNDS rounds (default 10), median over REPS processes (after a warm-up
# process). Target: each detector's round at most 1.2x the round without detection.
#
# Prints "ROW\tworkload\timplementation\tmedian_s\tmin_s\tmax_s\tnote" lines
# (bench/run.sh collects them). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
rounds=${BENCH_DETECT_ROUNDS:-10}
bin=${DIGITNET:-build/digitnet}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench_detect: $bin is missing: build first (make build)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_detect_XXXXXX")
trap 'rm -rf "$work"' EXIT
workload="fedavg round with detection (2NN, K=100, C=0.1)"
. bench/lib.sh # bench_row

settings=(none krum cosine norm fltrust)
round_seconds() { # the mean of the metrics CSV's seconds column
  "$py" -c 'import csv, sys; r = list(csv.DictReader(open(sys.argv[1]))); print(sum(float(x["seconds"]) for x in r) / len(r))' "$1"
}
for i in $(seq 0 "$reps"); do
  for s in "${settings[@]}"; do
    echo "... digitnet fedavg, detection $s, $rounds rounds, run $i of $reps" >&2
    extra=()
    [ "$s" = none ] || extra=(--detect "$s")
    [ "$s" = fltrust ] && extra+=(--root-size 100)
    "$bin" mlp --data "$data" --distributed fedavg --clients 100 --client-fraction 0.1 --partition iid \
      --hidden 200,200 --batch 10 --momentum 0 --lr 0.1 --schedule none --rounds "$rounds" --threads 1 --quiet \
      "${extra[@]}" --metrics "$work/m.csv" >"$work/out.txt"
    [ "$i" -gt 0 ] || continue # the warm-up
    round_seconds "$work/m.csv" >>"$work/$s.times"
    grep '^detection:' "$work/out.txt" >"$work/$s.detection" || true
  done
done
for s in "${settings[@]}"; do
  if [ "$s" = none ]; then
    bench_row "$workload" "digitnet, no detection" "the mean of the 10 clients" <"$work/$s.times"
  else
    bench_row "$workload" "digitnet, --detect $s" \
      "flagged clients left out; the last run's $(cat "$work/$s.detection" 2>/dev/null || echo 'detection: -')" \
      <"$work/$s.times"
  fi
done
