#!/usr/bin/env bash
# bench_fedavg.sh [DATA] [REPS] — the benchmark: simulation throughput of federated
# averaging over virtual clients, McMahan et al.'s 2NN setting: 784-200-200-10 ReLU,
# 100 IID clients of 600 samples, 10 drawn a round (C = 0.1), each one epoch
# (E = 1) of SGD batch 10 (B = 10), lr 0.1, no momentum; digitnet
# (`mlp --distributed fedavg --clients 100`, one process, no mpirun) side by side
# with a straightforward PyTorch simulation of the same loop (bench/fedavg_torch.py:
# one model object, the clients trained one after another).
#
# seconds = time per client update (one client's epoch over its 600 samples, its
# share of the averaging included, the per-round test evaluation not): the rounds'
# training time / (10 × BENCH_FEDAVG_ROUNDS). digitnet: the metrics CSV's per-round
# `seconds`, one process per repetition after a warm-up process (REPS of them);
# PyTorch: one process, a warm-up round then BENCH_FEDAVG_PEER_REPS (default 2)
# timed repetitions, each from a fresh model; PyTorch with OpenBLAS on 1 and on 2 threads
# (the fastest is the peer). The note holds the updates per second, the test
# accuracy after the last round (both sides should be alike), the whole process's
# wall time (digitnet) and its peak RSS (/usr/bin/time; target for digitnet's
# 100-client simulation: <= 200 MiB).
#
# Prints "ROW\tworkload\timplementation\tmedian_s\tmin_s\tmax_s\tnote" lines
# (bench/run.sh collects them). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
peer_reps=${BENCH_FEDAVG_PEER_REPS:-2} # PyTorch: about 2-10 s a repetition
rounds=${BENCH_FEDAVG_ROUNDS:-5}       # 10 client updates a round
bin=${DIGITNET:-build/digitnet}
py=/usr/bin/python3 # Debian's python3, where python3-torch lives
[ -x "$bin" ] || { echo "bench_fedavg: $bin is missing: build first (make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_fedavg: /usr/bin/time is missing (scripts/deps.sh bench installs time)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_fedavg_XXXXXX")
trap 'rm -rf "$work"' EXIT
workload="fedavg 2NN client update (600 samples, E=1, B=10)"
per_round=10
updates=$((per_round * rounds))

. bench/lib.sh # bench_row
median() { "$py" -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.stdin.read().split()))'; }
mb() { awk '{ printf "%.0f", $1 / 1024 }' "$1"; } # /usr/bin/time's KiB → MiB

# ---- digitnet: one process per repetition (run 0 is the warm-up), --threads 1 and 2
# (with 2, a round's clients train two at a time, each on one thread: the same models)
for threads in 1 2; do
  : >"$work/times"; : >"$work/acc"; : >"$work/wall"; peak=0
  for i in $(seq 0 "$reps"); do
    echo "... digitnet fedavg, 100 clients, $rounds rounds, --threads $threads, run $i of $reps" >&2
    /usr/bin/time -f '%M %e' -o "$work/rss" "$bin" mlp --data "$data" --distributed fedavg --clients 100 \
      --client-fraction 0.1 --partition iid --hidden 200,200 --batch "$per_round" --momentum 0 --lr 0.1 \
      --schedule none --rounds "$rounds" --threads "$threads" --quiet --metrics "$work/m.csv" >/dev/null
    read -r kib wall <"$work/rss"
    m=$((kib / 1024)); [ "$m" -gt "$peak" ] && peak=$m
    [ "$i" -gt 0 ] || continue
    # Σ seconds over the rounds / client updates, and the last round's test accuracy
    read -r per_update acc < <("$py" - "$work/m.csv" "$updates" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("%.6f %s" % (sum(float(r["seconds"]) for r in rows) / int(sys.argv[2]), rows[-1]["test_accuracy"]))
EOF
    )
    echo "$per_update" >>"$work/times"; echo "$acc" >>"$work/acc"; echo "$wall" >>"$work/wall"
  done
  med=$(median <"$work/times")
  bench_row "$workload" "digitnet" \
    "--threads $threads$([ "$threads" -gt 1 ] && echo ' (clients two at a time)'), one process; $("$py" -c "print('%.1f' % (1 / $med))") updates/s; test accuracy after $rounds rounds $(median <"$work/acc"); whole process $(median <"$work/wall") s; peak RSS ${peak} MiB (target <= 200 MiB)" \
    <"$work/times"
done

# ---- PyTorch: one process per setting (torch threads, OpenBLAS threads). torch 2 +
# OpenBLAS 2 is left out: batch-10 products on two shared cores made it ~50x slower
# (2 s an update) and the piece ~200 s longer.
for setting in "1 1" "1 2"; do
  read -r torch_threads blas_threads <<<"$setting"
  echo "... PyTorch fedavg, torch $torch_threads thread(s), OpenBLAS $blas_threads thread(s), $peer_reps runs" >&2
  /usr/bin/time -f %M -o "$work/rss" "$py" bench/fedavg_torch.py --data "$data" --rounds "$rounds" \
    --reps "$peer_reps" --threads "$torch_threads" --blas-threads "$blas_threads" >"$work/out"
  version=$(awk '/^torch/ { print $2 }' "$work/out")
  awk '/^update_seconds/ { print $4 }' "$work/out" >"$work/acc"
  awk '/^update_seconds/ { print $2 }' "$work/out" >"$work/times"
  med=$(median <"$work/times")
  bench_row "$workload" "PyTorch" \
    "torch $version, torch.set_num_threads($torch_threads), OpenBLAS $blas_threads thread(s), one model object, clients one after another; $("$py" -c "print('%.1f' % (1 / $med))") updates/s; test accuracy after $rounds rounds $(median <"$work/acc"); peak RSS $(mb "$work/rss") MiB" \
    <"$work/times"
done
