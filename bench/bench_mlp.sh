#!/usr/bin/env bash
# bench_mlp.sh [DATA] [REPS] — the benchmark: one training epoch of
# 784-300-100-10 (batch 64, SGD lr 0.1 momentum 0.9, cosine schedule), digitnet
# side by side with PyTorch (bench/mlp_torch.py) and FANN (bench/mlp_fann.c,
# incremental training); digitnet's epoch also as a user sees it from outside
# the program, and where its step's time goes (--profile); and the time each
# side takes to reach 98% test accuracy.
#
# Prints one line per implementation, tab-separated:
#   ROW  workload  implementation  median_seconds  min_seconds  max_seconds  note
# median of REPS repetitions after a warm-up (BENCH_PEER_REPS, default 5, for
# FANN's 25-second epochs, the from-outside pairs and the runs to 98%); the
# note holds the thread settings and the peak RSS of the process; and
#   PHASE  workload  setting  phase  microseconds_a_step  share
# lines of the breakdown, and
#   PAIRED  mlp  median_ratio  min_ratio  max_ratio  pairs  the_pairs'_seconds
# for the interleaved digitnet/PyTorch pairs (bench/run.sh judges the target on it). Progress goes to stderr.
# Run nothing else meanwhile: two shared cores make any other load show.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
peer_reps=${BENCH_PEER_REPS:-5} # the long ones (FANN epochs, 10-epoch runs to 98%)
bin=${DIGITNET:-build/digitnet}
py=/usr/bin/python3 # Debian's python3, where python3-torch lives
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_mlp_XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -x "$bin" ] || { echo "bench_mlp: $bin is missing: build first (make build)" >&2; exit 1; }
workload="mlp 784-300-100-10 epoch"

. bench/lib.sh # bench_row
mb() { awk '{ printf "%.0f", $1 / 1024 }' "$1"; } # /usr/bin/time's KiB → MiB
peak=0
track() { local m; m=$(mb "$work/rss"); [ "$m" -gt "$peak" ] && peak=$m; return 0; }

# ---- digitnet: one process per repetition, each a warm-up epoch then the timed one (as
# PyTorch's below: the first epoch of a process also pays the first touch of the
# images and buffers and OpenBLAS's start), the second epoch's own time from --metrics
# second_epoch THREADS [PREFIX...]: runs a 2-epoch process (under PREFIX: /usr/bin/time,
# env), prints its second epoch's seconds
second_epoch() {
  local threads=$1; shift
  "$@" "$bin" mlp --data "$data" --epochs 2 --threads "$threads" --quiet --metrics "$work/m.csv" >"$work/out"
  awk -F, '$1 == 2 { print $7 }' "$work/m.csv"
}
for threads in 1 2; do
  : >"$work/times"; peak=0
  for i in $(seq 0 "$reps"); do # run 0 is the warm-up
    echo "... digitnet, $threads thread(s), run $i of $reps" >&2
    s=$(second_epoch "$threads" /usr/bin/time -f %M -o "$work/rss")
    track
    [ "$i" -gt 0 ] && echo "$s" >>"$work/times"
  done
  bench_row "$workload" "digitnet" "--threads $threads ($threads thread(s), layers split by units, OpenBLAS 1 thread each), the epoch after a warm-up epoch; peak RSS ${peak} MiB" <"$work/times"
done

# ---- where a step's time goes: `digitnet mlp --profile` (training thread 0's
# clock, 3 epochs), one PHASE line a phase: workload, setting, phase, µs a step, share
printf 'PHASEHEAD\t%s\tsetting\tphase\tus a step (thread 0)\tshare\n' "$workload"
for threads in 1 2; do
  echo "... digitnet --profile, $threads thread(s)" >&2
  "$bin" mlp --data "$data" --epochs 3 --threads "$threads" --quiet --profile >"$work/out"
  awk -v w="$workload" -v t="$threads" '/^  [a-z]+ +[0-9.]+ +[0-9.]+% +[0-9.]+ us$/ {
    printf "PHASE\t%s\tdigitnet --threads %s\t%s\t%s\t%s\n", w, t, $1, $4, $3 }' "$work/out"
done

# ---- the epoch as a user sees it: the whole program's wall time, (4-epoch
# run − 1-epoch run) / 3, so that start-up and loading cancel; what is left
# beside the training is the per-epoch test evaluation the program prints
wall() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }'; }
: >"$work/outside"
for i in $(seq 1 "$peer_reps"); do
  echo "... digitnet from outside, 1 and 4 epochs, run $i of $peer_reps" >&2
  one=$(wall "$bin" mlp --data "$data" --epochs 1 --threads 2 --quiet)
  four=$(wall "$bin" mlp --data "$data" --epochs 4 --threads 2 --quiet)
  awk -v a="$four" -v b="$one" 'BEGIN { print (a - b) / 3 }' >>"$work/outside"
done
bench_row "$workload" "digitnet --threads 2, from outside" \
  "the program's wall time as a user runs it: (4-epoch run - 1-epoch run) / 3, the per-epoch test evaluation included" \
  <"$work/outside"

# ---- PyTorch: one process, a warm-up epoch then REPS timed epochs. Debian's
# torch multiplies through OpenBLAS, whose pool torch.set_num_threads does not
# set: the three settings below are (torch threads, OpenBLAS threads); the fastest is the peer.
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
torch_best="1 1" torch_best_s=""
for setting in "1 1" "1 2" "2 2"; do # torch threads, OpenBLAS threads
  read -r torch_threads blas_threads <<<"$setting"
  echo "... PyTorch, torch $torch_threads thread(s), OpenBLAS $blas_threads thread(s)" >&2
  /usr/bin/time -f %M -o "$work/rss" "$py" bench/mlp_torch.py --data "$data" --timed "$reps" \
    --threads "$torch_threads" --blas-threads "$blas_threads" >"$work/out"
  version=$(awk '/^torch/ { print $2 }' "$work/out")
  awk '/^epoch_seconds/ { print $2 }' "$work/out" |
    bench_row "$workload" "PyTorch" "torch $version, torch.set_num_threads($torch_threads), OpenBLAS $blas_threads thread(s); peak RSS $(mb "$work/rss") MiB"
  s=$(awk '/^epoch_seconds/ { print $2 }' "$work/out" | median)
  if [ -z "$torch_best_s" ] || awk -v a="$s" -v b="$torch_best_s" 'BEGIN { exit !(a < b) }'; then
    torch_best=$setting torch_best_s=$s
  fi
done

# ---- interleaved pairs: digitnet --threads 2 then PyTorch on its fastest setting, one
# process each, PEER_REPS times; the target is the median of the pairs' ratios, which
# a slow minute of the shared machine (the same command moves 30 % between minutes
# here) touches on both sides of a pair
: >"$work/pairs"
read -r torch_threads blas_threads <<<"$torch_best"
for i in $(seq 1 "$peer_reps"); do
  echo "... pair $i of $peer_reps: digitnet --threads 2, PyTorch ($torch_best)" >&2
  ours=$(second_epoch 2)
  theirs=$("$py" bench/mlp_torch.py --data "$data" --timed 1 --threads "$torch_threads" --blas-threads "$blas_threads" |
    awk '/^epoch_seconds/ { print $2 }')
  echo "$ours $theirs" >>"$work/pairs"
done
"$py" - "$work/pairs" <<'PY'
import statistics, sys
pairs = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
r = [t / o for o, t in pairs if o > 0]
if r:
    print("PAIRED\tmlp\t%.4f\t%.4f\t%.4f\t%d\t%s" % (statistics.median(r), min(r), max(r), len(r),
          " ".join("%.3f/%.3f" % p for p in pairs)))
PY

# ---- the same epoch under the host's OPENBLAS_CORETYPE (bench/lib.sh), when the run set it
# aside: digitnet --threads 2 and PyTorch on its fastest setting above, both on the host's kernels
if [ -n "${BENCH_HOST_CORETYPE:-}" ] && [ "${OPENBLAS_CORETYPE:-}" != "$BENCH_HOST_CORETYPE" ]; then
  host_workload="on the host's BLAS kernels: mlp 784-300-100-10 epoch, OPENBLAS_CORETYPE=$BENCH_HOST_CORETYPE"
  : >"$work/times"
  for i in $(seq 0 "$peer_reps"); do
    echo "... digitnet, 2 threads, OPENBLAS_CORETYPE=$BENCH_HOST_CORETYPE, run $i of $peer_reps" >&2
    s=$(second_epoch 2 env OPENBLAS_CORETYPE="$BENCH_HOST_CORETYPE")
    [ "$i" -gt 0 ] && echo "$s" >>"$work/times"
  done
  bench_row "$host_workload" "digitnet" "--threads 2, the epoch after a warm-up epoch" <"$work/times"
  read -r torch_threads blas_threads <<<"$torch_best"
  echo "... PyTorch, OPENBLAS_CORETYPE=$BENCH_HOST_CORETYPE" >&2
  OPENBLAS_CORETYPE=$BENCH_HOST_CORETYPE "$py" bench/mlp_torch.py --data "$data" --timed "$peer_reps" \
    --threads "$torch_threads" --blas-threads "$blas_threads" >"$work/out"
  awk '/^epoch_seconds/ { print $2 }' "$work/out" |
    bench_row "$host_workload" "PyTorch" "torch.set_num_threads($torch_threads), OpenBLAS $blas_threads thread(s) (its fastest setting above)"
fi

# ---- FANN: built here (the CMake build makes a stub), incremental training
if cc -O2 -march=native -std=c11 -Wall -Wextra -Wpedantic bench/mlp_fann.c -o "$work/mlp_fann" -lfann -lm 2>"$work/cc.err"; then
  echo "... FANN (about 25 s an epoch)" >&2
  /usr/bin/time -f %M -o "$work/rss" "$work/mlp_fann" "$data" "$peer_reps" >"$work/out"
  acc=$(awk '/^test_accuracy/ { print $2 }' "$work/out")
  awk '/^epoch_seconds/ { print $2 }' "$work/out" |
    bench_row "$workload" "FANN" "FANN 2.2 incremental (online SGD), tanh hidden + sigmoid/MSE (no ReLU in 2.2), 1 thread; test accuracy after $((peer_reps + 1)) epochs $acc; peak RSS $(mb "$work/rss") MiB"
else
  echo "bench_mlp: FANN skipped (libfann-dev missing?): $(head -1 "$work/cc.err")" >&2
fi

# ---- time to 98% test accuracy: training time until the first epoch whose
# test accuracy is >= 98% (evaluation not counted), for two documented
# recipes — SGD momentum 0.9, lr 0.1, batch 64, the cosine schedule over 10
# epochs (the defaults) or over 3 — each side on each, PyTorch on its
# fastest thread setting above; the target compares each side's best.
read -r torch_threads blas_threads <<<"$torch_best"
# to98_row IMPLEMENTATION NOTE: the row of the times collected, or a line saying none reached it
to98_row() {
  if [ -s "$work/times" ]; then
    bench_row "mlp 784-300-100-10 time to 98% test" "$1" \
      "$2; reached at epoch $(sort -n "$work/epochs" | uniq | paste -sd/) of a $cosine-epoch cosine run, $(wc -l <"$work/times") of $peer_reps runs" \
      <"$work/times"
  else
    echo "bench_mlp: $1 did not reach 98% in $cosine epochs ($2)" >&2
  fi
}
for cosine in 10 3; do
  for threads in 1 2; do
    : >"$work/times"; : >"$work/epochs"; peak=0
    for i in $(seq 1 "$peer_reps"); do
      echo "... digitnet to 98%, cosine over $cosine epochs, $threads thread(s), run $i of $peer_reps" >&2
      /usr/bin/time -f %M -o "$work/rss" "$bin" mlp --data "$data" --epochs "$cosine" --threads "$threads" --quiet \
        >"$work/out"
      track
      sed -n 's/^time to 98% test accuracy: \([0-9.]*\) s (epoch \([0-9]*\))$/\1/p' "$work/out" >>"$work/times"
      sed -n 's/^time to 98% test accuracy: \([0-9.]*\) s (epoch \([0-9]*\))$/\2/p' "$work/out" >>"$work/epochs"
    done
    to98_row "digitnet, --epochs $cosine" "--threads $threads; peak RSS ${peak} MiB"
  done
  : >"$work/times"; : >"$work/epochs"
  for i in $(seq 1 "$peer_reps"); do
    echo "... PyTorch to 98%, cosine over $cosine epochs, run $i of $peer_reps" >&2
    "$py" bench/mlp_torch.py --data "$data" --threads "$torch_threads" --blas-threads "$blas_threads" \
      --epochs "$cosine" --target 0.98 >"$work/out"
    awk '/^time_to_target [0-9]/ { print $2 >> "'"$work/times"'"; print $3 >> "'"$work/epochs"'" }' "$work/out"
  done
  to98_row "PyTorch, --epochs $cosine" \
    "torch.set_num_threads($torch_threads), OpenBLAS $blas_threads thread(s) (its fastest epoch)"
done
