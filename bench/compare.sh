#!/usr/bin/env bash
# bench/compare.sh BASE_REV (make bench-compare BASE=<rev>): digitnet's own
# workloads, the working tree ("head") against an earlier revision ("base"),
# side by side in one run, as ratios head/base.
#
# Two separate `make bench` runs on a shared two-core machine differ by more
# than the few percent a change is judged by; here both builds run
# interleaved (per repetition and workload: base, then head), so whatever
# load comes and goes hits both alike. Workloads, measured as the pieces of
# `make bench` measure them:
#   * PTA epoch n=60000: bench/bench_pta of each build (its three settings),
#     each run's value the median of BENCH_PTA_EPOCHS epochs (default 20);
#   * MLP 784-300-100-10 epoch, --threads 1 and 2: one `digitnet mlp
#     --epochs 1` process a run, the epoch's time as it prints it (bench_mlp.sh);
#   * MLP time to 98% test accuracy, --threads 1 and 2: one 10-epoch cosine
#     run a run, the training time it prints (bench_mlp.sh);
#   * synchronous distributed MLP epoch, batch 64 and 256, 1 rank, 2 ranks and
#     2 ranks deterministic, and FedAvg's time to 97% with 4 workers, when
#     mpirun is there and both builds have MPI: one `mpirun ... --epochs 2` a
#     run, the second epoch's time from the metrics (bench_mpi.sh drops the
#     first too); one 10-round FedAvg job a run (bench_mpi.sh).
# Repetitions: BENCH_REPS (default 7) after one warm-up round; medians with
# [min - max]; a verdict per workload: within 3% when head/base <= 1.03.
# BENCH_ONLY=REGEX runs only the workloads whose command (pta, mlp 1, to98 2,
# sync_epoch 2 64, fedavg, ...) matches.
# BENCH_ORDER=alternate puts head first in every other repetition (base, head,
# head, base, ...), for when running second might itself cost something.
#
# Builds: head in $BUILD (default build), base in a temporary git worktree
# under /var/tmp (removed on exit), both Release with the same $CMAKE_ARGS,
# $JOBS jobs; only the two programs measured are built. Data: $DN_DATA
# (default data/mnist, fetched when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: bench/compare.sh BASE_REV   (or: make bench-compare BASE=<rev>)" >&2; exit 2; }
base_rev=$1
base_sha=$(git rev-parse -q --verify "$base_rev^{commit}") ||
  { echo "compare: '$base_rev' is not a revision of this repository" >&2; exit 2; }
reps=${BENCH_REPS:-7}
order=${BENCH_ORDER:-base-first}
case $order in base-first | alternate) ;; *) echo "compare: BENCH_ORDER is base-first or alternate" >&2; exit 2 ;; esac
pta_epochs=${BENCH_PTA_EPOCHS:-20}
jobs=${JOBS:-2}
head_build=$(realpath -m "${BUILD:-build}")
data=$(realpath -m "${DN_DATA:-data/mnist}")
read -r -a cmake_args <<<"${CMAKE_ARGS:-}"
py=/usr/bin/python3
. bench/lib.sh

work=$(mktemp -d /var/tmp/dn_compare_XXXXXX)
base_tree=$work/base
cleanup() {
  git worktree remove --force "$base_tree" 2>/dev/null || true
  rm -rf "$work"
  git worktree prune
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/fetch_mnist.sh "$data" >&2

# ---- the two builds, configured alike
# Only the programs measured: the CLI and, where the revision has it, bench_pta.
targets=(digitnet_cli bench_pta)
if ! git cat-file -e "$base_sha:bench/bench_pta.c" 2>/dev/null; then
  echo "compare: $base_rev has no bench/bench_pta.c: the PTA epoch is left out" >&2
  targets=(digitnet_cli)
fi
build_tree() { # SOURCE_DIR BUILD_DIR NAME
  echo "... building $3 in $2" >&2
  if ! { cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" &&
    cmake --build "$2" -j"$jobs" --target "${targets[@]}"; } >"$work/build-$3.log" 2>&1; then
    echo "compare: building $3 failed; the end of its log:" >&2
    tail -20 "$work/build-$3.log" >&2
    exit 1
  fi
}
git worktree add -q --detach "$base_tree" "$base_sha" >&2
build_tree "$base_tree" "$base_tree/build" base
build_tree . "$head_build" head
declare -A dir=([base]=$base_tree/build [head]=$head_build)

# The settings the compiler got must be the same (a head build dir configured
# earlier keeps its own cache).
flags() { grep -E '^CMAKE_(BUILD_TYPE|C_COMPILER|C_FLAGS|C_FLAGS_RELEASE):' "$1/CMakeCache.txt" | sed 's/:[A-Z]*=/=/'; }
if ! diff <(flags "${dir[base]}") <(flags "${dir[head]}") >&2; then
  echo "compare: warning: the two builds were configured differently (above: base <, head >)" >&2
fi

# ---- the workloads: each prints "workload<TAB>seconds" lines for the build in $1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
pta() {
  "$1/bench/bench_pta" "$data" "$pta_epochs" | awk -F'\t' '$1 == "ROW" { print $2 ", " $3 "\t" $4 }'
}
mlp() { # BUILD THREADS
  "$1/digitnet" mlp --data "$data" --epochs 1 --threads "$2" --quiet |
    sed -n "s/.* \([0-9.]*\) s of training\$/mlp 784-300-100-10 epoch, --threads $2\t\1/p"
}
to98() { # BUILD THREADS: training time to 98% test accuracy in a 10-epoch cosine run (bench_mlp.sh)
  "$1/digitnet" mlp --data "$data" --epochs 10 --threads "$2" --quiet |
    sed -n "s/^time to 98% test accuracy: \([0-9.]*\) s (epoch [0-9]*)\$/mlp 784-300-100-10 time to 98% test, --threads $2\t\1/p"
}
sync_epoch() { # BUILD RANKS BATCH [--deterministic]: one BLAS/OpenMP thread per rank, as bench_mpi.sh runs it
  local label="mlp sync epoch 784-300-100-10 batch $3, $2 rank$([ "$2" = 1 ] || echo s)${4:+, deterministic}"
  rm -f "$work/sync.csv" # (called in an if: set -e does not stop a failed mpirun here)
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 mpirun -np "$2" "$1/digitnet" mlp --data "$data" --threads 1 --quiet \
    --distributed sync --batch "$3" --epochs 2 ${4:+"$4"} --metrics "$work/sync.csv" >/dev/null || return
  "$py" - "$work/sync.csv" "$label" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("%s\t%s" % (sys.argv[2], rows[1]["seconds"]))  # the second epoch: bench_mpi.sh drops the first too
PY
}
fedavg() { # BUILD: wall time of the rounds until 97% test accuracy, 4 workers (bench_mpi.sh)
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 mpirun -np 4 "$1/digitnet" mlp --data "$data" --threads 1 \
    --distributed fedavg --rounds 10 | awk '/time to 97% test accuracy/ { print "fedavg to 97% test accuracy, 4 workers\t" $6 }'
}
# A build without MPI runs each process as a job of its own: ask both builds
# (the probe tests/cli_mpi_mlp.sh used before --version listed features).
has_mpi() {
  local out
  out=$(mpirun -np 2 "$1/digitnet" mlp --data "$data" --hidden 8 --threads 1 --distributed sync --train-size 100 \
    --epochs 1 2>/dev/null) || return 1
  grep -q "sync over 2 ranks" <<<"$out"
}
workloads=("mlp 1" "mlp 2" "to98 1" "to98 2")
[ "${#targets[@]}" = 1 ] || workloads=(pta "${workloads[@]}")
if ! command -v mpirun >/dev/null; then
  echo "compare: mpirun not found: the distributed epoch is left out" >&2
elif has_mpi "${dir[base]}" && has_mpi "${dir[head]}"; then
  workloads+=("sync_epoch 1 64" "sync_epoch 2 64" "sync_epoch 2 64 --deterministic" "sync_epoch 1 256" "sync_epoch 2 256"
    "sync_epoch 2 256 --deterministic" fedavg)
else
  echo "compare: a build without MPI: the distributed epoch is left out" >&2
fi

# BENCH_ONLY=REGEX keeps the workloads whose command matches (e.g. 'sync_epoch|fedavg').
if [ -n "${BENCH_ONLY:-}" ]; then
  kept=()
  for w in "${workloads[@]}"; do [[ $w =~ $BENCH_ONLY ]] && kept+=("$w"); done
  [ ${#kept[@]} -gt 0 ] || { echo "compare: BENCH_ONLY='$BENCH_ONLY' matches none of: ${workloads[*]}" >&2; exit 2; }
  workloads=("${kept[@]}")
fi

# ---- interleaved runs: round 0 is the warm-up
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=$work/results # side<TAB>workload<TAB>seconds; a failed run: side<TAB>command<TAB>FAIL
: >"$results"
for i in $(seq 0 "$reps"); do
  sides=(base head)
  [ "$order" = alternate ] && [ $((i % 2)) = 1 ] && sides=(head base)
  for w in "${workloads[@]}"; do
    for side in "${sides[@]}"; do
      echo "... $w, $side, run $i of $reps$([ "$i" -gt 0 ] || echo " (warm-up)")" >&2
      read -r -a cmd <<<"$w"
      if "${cmd[0]}" "${dir[$side]}" "${cmd[@]:1}" >"$work/out" 2>"$work/err" && [ -s "$work/out" ]; then
        [ "$i" -eq 0 ] || sed "s/^/$side\t/" "$work/out" >>"$results"
      else
        echo "compare: '$w' failed with the $side build:" >&2
        tail -5 "$work/err" >&2
        printf '%s\t%s\tFAIL\n' "$side" "$w" >>"$results"
      fi
    done
  done
done

# ---- report
describe() { # REV: short hash, date, subject (cut at 72 characters)
  local subject
  subject=$(git log -1 --format=%s "$1")
  [ "${#subject}" -le 72 ] || subject="${subject:0:71}…"
  echo "$(git log -1 --format='%h %cs' "$1") $subject"
}
bench_header
echo "base: $(describe "$base_sha") (asked as '$base_rev')"
head_line="head: working tree at $(describe HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || head_line="$head_line, with uncommitted changes"
echo "$head_line"
compiler=$(flags "${dir[head]}" | sed -n 's/^CMAKE_C_COMPILER=//p')
echo "builds: Release, CMAKE_ARGS='${CMAKE_ARGS:-}', $compiler $("$compiler" -dumpfullversion 2>/dev/null || true)"
echo "load average (1, 5, 15 min): $load_before before the runs, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "repetitions: median of $reps after a warm-up (min-max in brackets); base and head interleaved per workload and repetition, $([ "$order" = alternate ] && echo "base first in even repetitions, head in odd" || echo "base first"); a PTA run is its median of $pta_epochs epochs"
echo
"$py" - "$results" <<'PY'
import statistics, sys
order, times, failed = [], {}, {}
for line in open(sys.argv[1]):
    side, workload, value = line.rstrip("\n").split("\t")
    if value == "FAIL":  # workload is the command here ("mlp 2"), whose rows have fewer runs
        failed[(workload, side)] = failed.get((workload, side), 0) + 1
        continue
    if workload not in order:
        order.append(workload)
    times.setdefault((workload, side), []).append(float(value))
def cell(v):
    return f"{statistics.median(v):.4f}" if v else "-"
def span(v):
    return f"[{min(v):.4f} - {max(v):.4f}]" if v else "-"
print("| workload | base median s | head median s | head/base | base [min - max] | head [min - max] |")
print("|---|---|---|---|---|---|")
verdicts = []
for w in order:
    b, h = times.get((w, "base"), []), times.get((w, "head"), [])
    if b and h:
        ratio = statistics.median(h) / statistics.median(b)
        r = f"{ratio:.4f}"
        change = f"head {abs(ratio - 1) * 100:.1f}% {'slower' if ratio > 1 else 'faster'}"
        verdicts.append(f"verdict: {w}: {r} ({change}): " + ("within 3%" if ratio <= 1.03 else "NOT within 3%"))
    else:
        r = "-"
        verdicts.append(f"verdict: {w}: not compared (no run of {'base' if not b else 'head'} succeeded)")
    print(f"| {w} | {cell(b)} | {cell(h)} | {r} | {span(b)} | {span(h)} |")
print()
print("\n".join(verdicts))
for (command, side), n in failed.items():
    print(f"failed: {n} run(s) of '{command}' with the {side} build (see the messages above the table)")
PY
