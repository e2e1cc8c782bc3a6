#!/usr/bin/env bash
# bench_augment.sh [DATA] [REPS] — what on-the-fly augmentation costs an epoch: `digitnet mlp`,
# batch 64, SGD momentum, 60 000 samples, --threads 2, at two sizes: 784-1024-1024-10, the net of
# the best recipe (--preset best), where the target is judged, and 784-800-10 (Simard et al.'s size
# for their distortion results), reported beside it (BENCH_AUGMENT_SIZES sets others). Each size
# runs three ways, interleaved run by run so that the machine's noise falls on all alike:
#   plain                     no augmentation;
#   identity                  --augment affine:0,0,0,0: every image resampled, unchanged (what
#                             the machinery costs);
#   elastic + affine          --augment elastic:4,34 --augment affine:10,0.1,10,2.
# The distorted images also cost the network more: layer 0 runs on the pixels some image of the
# batch inks (digitnet.h), about 495 of 784 for MNIST batches of 64 but about 660 once distorted.
# A small net pays that and the distortions (about 6 us of CPU an image, on a core the training
# also wants) on little work of its own, so its ratio is the larger one.
# seconds = the mean epoch time of the run's --metrics (training only), median over REPS runs
# after a warm-up. Target (issue 17): an augmented epoch at most 1.3x a plain one.
# Prints ROW lines and TARGET lines (bench/run.sh collects them). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${DN_DATA:-data/mnist}}
reps=${2:-3}
epochs=${BENCH_AUGMENT_EPOCHS:-2}
bin=${DIGITNET:-build/digitnet}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench_augment: $bin is missing: build first (make build)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_bench_augment_XXXXXX")
trap 'rm -rf "$work"' EXIT
. bench/lib.sh # bench_row
sizes=${BENCH_AUGMENT_SIZES:-1024,1024 800} # the first is judged against the target
settings=(plain identity distorted)
declare -A flags=([plain]="" [identity]="--augment affine:0,0,0,0"
                  [distorted]="--augment elastic:4,34 --augment affine:10,0.1,10,2")

epoch_seconds() { "$py" -c 'import csv, sys; r = list(csv.DictReader(open(sys.argv[1]))); print(sum(float(x["seconds"]) for x in r) / len(r))' "$1"; }

judged=1
for hidden in $sizes; do
  net="784-${hidden//,/-}-10"
  workload="mlp epoch with augmentation ($net, batch 64, 2 threads)"
  args=(--data "$data" --hidden "$hidden" --batch 64 --epochs "$epochs" --threads 2 --quiet --metrics "$work/m.csv")
  rm -f "$work"/*.times
  for i in $(seq 0 "$reps"); do
    for s in "${settings[@]}"; do
      echo "... digitnet mlp $net, $epochs epochs, $s, run $i of $reps" >&2
      # shellcheck disable=SC2086 # the flags split on purpose
      "$bin" mlp "${args[@]}" ${flags[$s]} >"$work/out" 2>&1
      [ "$i" -eq 0 ] || epoch_seconds "$work/m.csv" >>"$work/$s.times"
    done
  done
  bench_row "$workload" "digitnet, no augmentation" "mean epoch of $epochs" <"$work/plain.times"
  bench_row "$workload" "digitnet, --augment affine:0,0,0,0" "the machinery alone: images resampled unchanged" \
    <"$work/identity.times"
  bench_row "$workload" "digitnet, --augment elastic:4,34 + affine:10,0.1,10,2" \
    "distorted on the training threads between steps; denser images for layer 0" <"$work/distorted.times"
  "$py" - "$work/plain.times" "$work/identity.times" "$work/distorted.times" "$net" "$judged" <<'PY'
import statistics, sys
plain, identity, distorted = (statistics.median(float(x) for x in open(f)) for f in sys.argv[1:4])
r = distorted / plain
verdict = ("goal <= 1.3x; the machinery alone %.3fx): %s" % (identity / plain, "met" if r <= 1.3 else "NOT met")
           if sys.argv[5] == "1" else "the machinery alone %.3fx; reported, judged at the recipe's size)" % (identity / plain))
print("TARGET\tmlp %s --augment elastic:4,34 + affine:10,0.1,10,2, epoch / plain: %.3fx (%s" % (sys.argv[4], r, verdict))
PY
  judged=0
done
