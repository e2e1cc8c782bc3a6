#!/usr/bin/env bash
# cli_kill_loop.sh — nothing lost when a run dies.
#
# Runs `digitnet pta --train-size 2000 --max-epochs 200 --checkpoint ck
# --checkpoint-every 1 --save model.st` and SIGKILLs it after a random 0–0.3 s,
# again and again, each run resuming from ck when there is one. After every
# kill, ck and model.st must each be absent or whole and valid (checked by an
# independent reader, tests/lib/check_safetensors.py: header, tiling, CRC),
# ck must never go back to fewer epochs, and the next run must resume. A run
# that finishes before its kill must save exactly the model of an
# uninterrupted run; then the files are removed and the next run starts
# afresh, so kills keep landing in training, checkpointing and saving alike.
# Prints "kills survived: N". Runs until KILL_TARGET (30) kills have landed
# in a running process, at most 3 × KILL_TARGET runs and about KILL_SECONDS
# (45) seconds.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
[ -e "$DATA/train-labels-idx1-ubyte" ] || [ -e "$DATA/train-labels-idx1-ubyte.gz" ] ||
  { echo "SKIP: no MNIST in $DATA (scripts/fetch_mnist.sh)"; exit 77; }
DATA=$(cd "$DATA" && pwd) DIGITNET=$(realpath "$DIGITNET")
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_kill_XXXXXX")
pid=
cleanup() {
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
"$PY" "$SRC/tests/lib/mnist_subset.py" "$DATA" sub 2000 200
check() { "$PY" "$SRC/tests/lib/check_safetensors.py" "$@"; }

args=(pta --data sub --train-size 2000 --max-epochs 200 --quiet)
"$DIGITNET" "${args[@]}" --save ref.st >/dev/null # the uninterrupted run

target=${KILL_TARGET:-30}
deadline=$((SECONDS + ${KILL_SECONDS:-45}))
kills=0 finished=0 resumed=0 leftovers=0 last_epochs=0
for ((i = 1; kills < target && i <= 3 * target && SECONDS < deadline; i++)); do
  resume=()
  [ -e ck ] && resume=(--resume ck) && resumed=$((resumed + 1))
  "$DIGITNET" "${args[@]}" --checkpoint ck --checkpoint-every 1 --save model.st "${resume[@]}" >run.out 2>run.err &
  pid=$!
  sleep "$(printf '0.%03d' $((RANDOM % 300)))"
  if kill -9 "$pid" 2>/dev/null; then killed=1; else killed=0; fi
  rc=0
  wait "$pid" 2>/dev/null || rc=$? # (2>/dev/null: no "Killed" notice from bash)
  pid=
  if [ $killed -eq 1 ] && [ $rc -eq 137 ]; then
    kills=$((kills + 1))
  elif [ $rc -ne 0 ]; then
    echo "FAIL: run $i exited with $rc by itself: $(cat run.err)"
    exit 1
  fi
  # Whatever the moment of the kill: each file absent, or whole and valid.
  if [ -e ck ]; then
    epochs=$(check ck pta-checkpoint epochs_done) || { echo "FAIL: kill $i left a torn checkpoint"; exit 1; }
    [ "$epochs" -ge "$last_epochs" ] || { echo "FAIL: the checkpoint went back from $last_epochs to $epochs epochs"; exit 1; }
    last_epochs=$epochs
  fi
  if [ -e model.st ]; then
    check model.st perceptron >/dev/null || { echo "FAIL: kill $i left a torn model"; exit 1; }
  fi
  # A kill during a write leaves the temporary file (nothing can remove it
  # after SIGKILL); it never replaces the real one. Count and tidy them.
  for f in ck.tmp.* model.st.tmp.*; do [ -e "$f" ] && leftovers=$((leftovers + 1)) && rm -f "$f"; done
  if [ $rc -eq 0 ]; then # finished before the kill: the uninterrupted run's model, exactly
    cmp -s ref.st model.st || { echo "FAIL: run $i finished with a model other than the uninterrupted run's"; exit 1; }
    finished=$((finished + 1))
    rm -f ck model.st
    last_epochs=0
  fi
done

# Finish the last interrupted run: it must end with the uninterrupted model.
resume=()
[ -e ck ] && resume=(--resume ck)
"$DIGITNET" "${args[@]}" --checkpoint ck --checkpoint-every 1000 --save model.st "${resume[@]}" >/dev/null
cmp -s ref.st model.st || { echo "FAIL: the resumed run ended with a model other than the uninterrupted run's"; exit 1; }
"$DIGITNET" eval model.st --data sub >/dev/null || { echo "FAIL: digitnet eval cannot read the final model"; exit 1; }

echo "runs: $((i - 1)), resumed from a checkpoint: $resumed, finished before the kill: $finished," \
  "temporary files left by kills: $leftovers, epochs in the last checkpoint: $last_epochs"
echo "kills survived: $kills"
[ $kills -gt 0 ] || { echo "FAIL: no run was killed while running (the loop tested nothing)"; exit 1; }
