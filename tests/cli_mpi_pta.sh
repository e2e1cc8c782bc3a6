#!/usr/bin/env bash
# cli_mpi_pta.sh — `digitnet pta --distributed mix` under mpirun:
# one rank equals plain PTA bit for bit, 2 and 3 ranks train and agree with
# the plain run where they must (epoch 0 counts the same initial W over the
# same samples), only rank 0 prints, faults are survived or refused, bad
# combinations are usage errors. Skipped when Open MPI or MNIST is missing.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}

# Open MPI refuses root and more ranks than cores unless told through its
# environment (never through hard-coded mpirun flags).
source "$(dirname "$0")/lib/mpi_env.sh"

command -v mpirun >/dev/null || { echo "cli_mpi_pta: mpirun not found, skipped (scripts/deps.sh installs openmpi-bin)"; exit 77; }
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_mpi_pta: no MNIST in $DATA, skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_mpi_pta_XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

N=3000 EPOCHS=3
common=(--data "$DATA" --train-size $N --max-epochs $EPOCHS)
mix() { local np=$1; shift; mpirun -np "$np" "$DIGITNET" pta "${common[@]}" --distributed mix "$@"; }
errors_of() { cut -d, -f1-3 "$1"; } # epoch,errors,error_rate: the curve without timings

# The build says which features it has; a failing run must fail the test, not skip it.
"$DIGITNET" --version | grep -w mpi >/dev/null || { echo "cli_mpi_pta: this digitnet was built without MPI, skipped"; exit 77; }

# --- one rank is plain PTA: the same curve and the same model file, byte for byte
"$DIGITNET" pta "${common[@]}" --quiet --metrics "$work/plain.csv" --save "$work/plain.st" >/dev/null
for precision in float double; do
  "$DIGITNET" pta "${common[@]}" --precision $precision --quiet --save "$work/plain_$precision.st" >/dev/null
  mix 1 --precision $precision --quiet --metrics "$work/mix1_$precision.csv" --save "$work/mix1_$precision.st" \
    >/dev/null || fail "-np 1 ($precision) failed"
  cmp -s "$work/plain_$precision.st" "$work/mix1_$precision.st" || fail "-np 1 ($precision): W differs from plain PTA"
done
diff <(errors_of "$work/plain.csv") <(errors_of "$work/mix1_float.csv") >/dev/null ||
  fail "-np 1: error curve differs from plain PTA"
# A singleton (no mpirun) is one rank too.
"$DIGITNET" pta "${common[@]}" --quiet --distributed mix --shard random --save "$work/single.st" >/dev/null ||
  fail "singleton run failed"
cmp -s "$work/plain.st" "$work/single.st" || fail "singleton: W differs from plain PTA"

# --- 2 and 3 ranks
plain_epoch0=$(sed -n 2p "$work/plain.csv" | cut -d, -f2)
for np in 2 3; do
  out=$(mix $np --metrics "$work/mix$np.csv" --save "$work/mix$np.st" 2>"$work/err$np.txt") || fail "-np $np failed"
  want=$(for r in $(seq 0 $((np - 1))); do printf ' %d' $(( N / np + (r < N % np) )); done)
  grep -q "shards (contiguous):$want\$" <<<"$out" || fail "-np $np: shard sizes not printed as:$want"
  [ "$(grep -c '^test error' <<<"$out")" = 1 ] || fail "-np $np: rank 0 alone must print results"
  [ "$(wc -l <"$work/mix$np.csv")" = $((EPOCHS + 1)) ] || fail "-np $np: metrics should hold $EPOCHS epochs"
  # Epoch 0 counts the common initial W over all N samples: the global count equals plain PTA's.
  [ "$(sed -n 2p "$work/mix$np.csv" | cut -d, -f2)" = "$plain_epoch0" ] || fail "-np $np: epoch-0 errors differ"
  "$DIGITNET" eval --data "$DATA" "$work/mix$np.st" >/dev/null || fail "-np $np: saved model does not load"
done
# The same job twice gives the same W; a random split trains too.
mix 2 --quiet --save "$work/again2.st" >/dev/null
cmp -s "$work/mix2.st" "$work/again2.st" || fail "-np 2 is not deterministic"
mix 2 --shard random --shard-seed 7 | grep -q "shards (random, seed 7): 1500 1500" || fail "random shards"

# --- faults: a NaN is refused naming the rank, a sign flip is mixed in
mix 3 --quiet --fault-rank 1 --fault nan >/dev/null 2>"$work/nan.txt" || fail "nan fault: the run must go on"
grep -q "non-finite W from rank 1: mix refused" "$work/nan.txt" || fail "nan fault: rank 1 not named"
mix 3 --quiet --fault-rank 2 --fault sign-flip >/dev/null || fail "sign-flip fault run failed"

# --- usage errors: exit code 2 before any training
expect_usage() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; [ $rc = 2 ] || fail "expected exit 2, got $rc: ${*:2}"; }
expect_usage mix 2 --average
expect_usage mix 2 --fault-rank 2 --fault nan
expect_usage mix 2 --fault-rank 1
expect_usage mix 2 --fault-rank 0 --fault bogus
expect_usage "$DIGITNET" pta --data "$DATA" --fault-rank 0 --fault nan

[ $failures = 0 ] && echo "cli_mpi_pta: all passed" || { echo "cli_mpi_pta: $failures failed"; exit 1; }
