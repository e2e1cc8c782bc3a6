#!/usr/bin/env bash
# fedavg_robustness.sh — FedAvg test error per round for each aggregation
# rule, with and without a faulty worker. Prints a Markdown table
# (one row per round, one column per run) and the per-run CSVs' folder.
#
#   bench/fedavg_robustness.sh [BUILD_DIR] [ROUNDS] [FAULT]
#
# 4 workers (mpirun -np 4) on MNIST, the default 784-300-100-10 network,
# one local epoch per round; the faulty worker is rank 1 sending FAULT
# (default random: N(0, 1) values, as garbage from a broken worker would
# look). Krum needs K ≥ 2f + 3 models, so with 4 workers it runs with
# --faulty 0 (it still drops the outlier: each model is scored by its
# distance to its K − 2 nearest others); the guaranteed setting, 5 workers
# with --faulty 1, is shown too. Mean is also run against a NaN-sending
# worker, which it refuses round after round. About 20 s per run on two cores.
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-10}
FAULT=${3:-random}
DATA=${DN_DATA:-data/mnist}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
out=$(mktemp -d "${TMPDIR:-/tmp}/dn_fedavg_robustness_XXXXXX")

# run NAME NP ARGS...: one FedAvg run, its test error per round in $out/NAME.csv
run() {
  local name=$1 np=$2; shift 2
  echo "running $name" >&2
  mpirun -np "$np" "$BUILD/digitnet" mlp --data "$DATA" --threads 1 --quiet --distributed fedavg \
    --rounds "$ROUNDS" --metrics "$out/$name.csv" "$@" >/dev/null 2>"$out/$name.err"
}

names=()
for rule in mean median trimmed-mean krum; do
  extra=()
  [ $rule = krum ] && extra=(--faulty 0)
  run "$rule" 4 --aggregate $rule "${extra[@]}"
  run "$rule+fault" 4 --aggregate $rule "${extra[@]}" --fault-rank 1 --fault "$FAULT"
  names+=("$rule" "$rule+fault")
done
run "mean+nan" 4 --aggregate mean --fault-rank 1 --fault nan
run "krum5" 5 --aggregate krum --faulty 1
run "krum5+fault" 5 --aggregate krum --faulty 1 --fault-rank 1 --fault "$FAULT"
names+=("mean+nan" "krum5" "krum5+fault")

# The table: round, then each run's test error in percent.
{
  printf '| round |'
  for n in "${names[@]}"; do printf ' %s |' "$n"; done
  printf '\n|---:|'
  for _ in "${names[@]}"; do printf -- '---:|'; done
  printf '\n'
  for r in $(seq 1 "$ROUNDS"); do
    printf '| %d |' "$r"
    for n in "${names[@]}"; do
      awk -F, -v r="$r" 'NR > 1 && $1 == r { printf " %.2f |", 100 * $2 }' "$out/$n.csv"
    done
    printf '\n'
  done
}
echo
echo "Test error (%) per round; 4 workers unless named krum5 (5 workers, f = 1); faulty worker: rank 1 sending $FAULT."
echo "CSV files and stderr of each run: $out"
