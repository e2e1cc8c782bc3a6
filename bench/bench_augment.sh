#!/usr/bin/env bash
# bench_augment.sh [DATA] [REPS] — what on-the-fly augmentation costs an epoch: `digitnet mlp`
# 784-800-10 ReLU (Simard et al.'s size for their distortion results; BENCH_AUGMENT_HIDDEN sets
# others), batch 64, SGD momentum,
# 60 000 samples, --threads 2, run three ways, interleaved run by run so that the machine's noise
# falls on all alike:
#   plain                     no augmentation;
#   identity                  --augment affine:0,0,0,0: the pipeline and its worker thread, the
#                             images unchanged (what the machinery costs);
#   elastic + affine          --augment elastic:4,34 --augment affine:10,0.1,10,2.
# The distorted images also cost the network more: layer 0 runs on the pixels some image of the
# batch inks (digitnet.h), about 495 of 784 for MNIST batches of 64 but about 660 once distorted.
# seconds = the mean epoch time of the run's --metrics (training only), median over REPS runs
# after a warm-up. Target (issue 17): an augmented epoch at most 1.3x a plain one.
# Prints ROW lines and one TARGET line (bench/run.sh collects them). Progress goes to stderr.
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
hidden=${BENCH_AUGMENT_HIDDEN:-800} # another size: BENCH_AUGMENT_HIDDEN=1024,1024
workload="mlp epoch with augmentation (784-${hidden//,/-}-10, batch 64, 2 threads)"
net=(--data "$data" --hidden "$hidden" --batch 64 --epochs "$epochs" --threads 2 --quiet --metrics "$work/m.csv")
settings=(plain identity distorted)
declare -A flags=([plain]="" [identity]="--augment affine:0,0,0,0"
                  [distorted]="--augment elastic:4,34 --augment affine:10,0.1,10,2")

epoch_seconds() { "$py" -c 'import csv, sys; r = list(csv.DictReader(open(sys.argv[1]))); print(sum(float(x["seconds"]) for x in r) / len(r))' "$1"; }

for i in $(seq 0 "$reps"); do
  for s in "${settings[@]}"; do
    echo "... digitnet mlp, $epochs epochs, $s, run $i of $reps" >&2
    # shellcheck disable=SC2086 # the flags split on purpose
    "$bin" mlp "${net[@]}" ${flags[$s]} >"$work/out" 2>&1
    [ "$i" -eq 0 ] || epoch_seconds "$work/m.csv" >>"$work/$s.times"
  done
done
bench_row "$workload" "digitnet, no augmentation" "mean epoch of $epochs" <"$work/plain.times"
bench_row "$workload" "digitnet, --augment affine:0,0,0,0" "the pipeline alone: images unchanged" \
  <"$work/identity.times"
bench_row "$workload" "digitnet, --augment elastic:4,34 + affine:10,0.1,10,2" \
  "one worker thread; denser images for layer 0" <"$work/distorted.times"
"$py" - "$work/plain.times" "$work/identity.times" "$work/distorted.times" "784-${hidden//,/-}-10" <<'PY'
import statistics, sys
plain, identity, distorted = (statistics.median(float(x) for x in open(f)) for f in sys.argv[1:4])
r = distorted / plain
print("TARGET\tmlp %s --augment elastic:4,34 + affine:10,0.1,10,2, epoch / plain: %.3fx (goal <= 1.3x; "
      "the pipeline alone %.3fx): %s" % (sys.argv[4], r, identity / plain, "met" if r <= 1.3 else "NOT met"))
PY
