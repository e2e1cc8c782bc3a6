#!/usr/bin/env bash
# bench_mpi.sh [DATA] [REPS] — the benchmark, on Open MPI:
#   * synchronous data-parallel training (`mlp --distributed sync`), one
#     epoch of 784-300-100-10 on the 60000 MNIST samples, batch 64 (the
#     default) and 256, with 1 and 2 ranks, one BLAS/OpenMP thread per rank;
#     seconds = time per epoch (median of REPS epochs after a warm-up epoch),
#     note = throughput in samples/s and, for 2 ranks, the scaling ratio to
#     1 rank (target ≥ 1.6x on two cores); --deterministic with 2 ranks too;
#   * federated averaging with 4 workers (`mlp --distributed fedavg`, mean,
#     one local epoch per round): seconds = wall time of the rounds until
#     the test accuracy first reaches 97% (evaluation not counted), note =
#     the round it happened in.
# Prints "ROW\tworkload\timplementation\tmedian_s\tmin_s\tmax_s\tnote" lines
# (bench/run.sh collects them). Run nothing else meanwhile: ranks that wait
# for each other in every step suffer from any other load on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-5}
bin=${DIGITNET:-build/digitnet}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench_mpi: $bin is missing: build first (make build)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench_mpi: mpirun not found (scripts/deps.sh bench installs openmpi-bin)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_mpi_XXXXXX")
trap 'rm -rf "$work"' EXIT

# stats CSV COLUMN SKIP: "median min max" of a metrics column, first SKIP rows (warm-up) left out
stats() {
  "$py" - "$@" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))[int(sys.argv[3]):]
v = [float(r[sys.argv[2]]) for r in rows]
print("%.4f %.4f %.4f" % (statistics.median(v), min(v), max(v)))
EOF
}

# ---- sync: per-epoch time from the metrics' seconds column (training only)
declare -A median_of
for batch in 64 256; do
  for ranks in 1 2 2d; do
    np=${ranks%d}
    extra=()
    label="digitnet sync $np rank$([ "$np" = 1 ] || echo s)"
    [ "$ranks" = 2d ] && extra=(--deterministic) && label="$label, deterministic"
    echo "... sync, batch $batch, $label" >&2
    mpirun -np "$np" "$bin" mlp --data "$data" --threads 1 --quiet --distributed sync --batch "$batch" \
      --epochs $((reps + 1)) "${extra[@]}" --metrics "$work/sync.csv" >/dev/null
    read -r med lo hi < <(stats "$work/sync.csv" seconds 1)
    median_of[$batch/$ranks]=$med
    rate=$("$py" -c "print('%.0f' % (60000 / $med))")
    note="$rate samples/s; OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 per rank"
    if [ "$np" = 2 ]; then
      ratio=$("$py" -c "print('%.2f' % (${median_of[$batch/1]} / $med))")
      note="$note; scaling ${ratio}x vs 1 rank (target >= 1.6x)"
    fi
    printf 'ROW\tmlp sync epoch 784-300-100-10 batch %s\t%s\t%s\t%s\t%s\t%s\n' "$batch" "$label" "$med" "$lo" "$hi" "$note"
  done
done

# ---- what two cores give: two independent single-process runs at once. Any
# 2-rank speed-up is bounded by this aggregate capacity (2 on two free
# cores; on a shared virtual machine it can be far less).
echo "... capacity: one process alone, then two at once" >&2
plain=(mlp --data "$data" --threads 1 --quiet --batch 64 --epochs $((reps + 1)))
"$bin" "${plain[@]}" --metrics "$work/alone.csv" >/dev/null
"$bin" "${plain[@]}" --metrics "$work/pair_a.csv" >/dev/null &
"$bin" "${plain[@]}" --metrics "$work/pair_b.csv" >/dev/null
wait
read -r alone _ _ < <(stats "$work/alone.csv" seconds 1)
tail -n +3 "$work/pair_b.csv" >>"$work/pair_a.csv" # both runs' epochs, warm-ups left out
read -r med lo hi < <(stats "$work/pair_a.csv" seconds 1)
capacity=$("$py" -c "print('%.2f' % (2 * $alone / $med))")
printf 'ROW\tmlp sync epoch 784-300-100-10 batch 64\ttwo plain digitnet mlp processes at once\t%s\t%s\t%s\t%s\n' \
  "$med" "$lo" "$hi" "aggregate capacity ${capacity}x of one process alone ($alone s/epoch): the ceiling for 2-rank scaling here"

# ---- fedavg: wall time (training rounds) to 97% test accuracy with 4 workers
: >"$work/fed_times"
runs=$((reps < 3 ? reps : 3))
for i in $(seq 1 "$runs"); do
  echo "... fedavg, 4 workers, run $i of $runs" >&2
  mpirun -np 4 "$bin" mlp --data "$data" --threads 1 --distributed fedavg --rounds 10 >"$work/fed.txt"
  line=$(grep "time to 97% test accuracy" "$work/fed.txt" || true)
  [ -n "$line" ] || { echo "bench_mpi: fedavg never reached 97%" >&2; exit 1; }
  echo "$line" | awk '{ print $6, $9 }' | tr -d ')' >>"$work/fed_times"
done
read -r med lo hi < <(awk '{ print $1 }' "$work/fed_times" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }')
round=$(awk '{ print $2 }' "$work/fed_times" | sort -g | uniq | paste -sd/)
printf 'ROW\tfedavg to 97%% test accuracy, 4 workers\tdigitnet fedavg mean\t%s\t%s\t%s\t%s\n' "$med" "$lo" "$hi" \
  "reached in round $round of 10 (1 local epoch, batch 64, 784-300-100-10); $runs runs"
