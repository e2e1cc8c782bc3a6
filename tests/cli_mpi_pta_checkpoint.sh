#!/usr/bin/env bash
# cli_mpi_pta_checkpoint.sh — `digitnet pta --distributed mix` killed and
# resumed. A rank is killed with SIGKILL after an epoch
# (DN_TEST_KILL_AT=R:S, see cli/dist.h), which takes the whole job down; the
# job is resumed from the checkpoint rank 0 wrote, and it must end with the
# model an uninterrupted job ends with, byte for byte, and the same curve:
#   * K = 2 in float and in double, and with a faulty rank drawing random
#     models (each rank's generator is state), checkpointing every 2 epochs
#     so the resume redoes the epoch after the last checkpoint;
#   * not vacuous: the resumed run trains only the epochs after the
#     checkpoint, and its curve's first epochs carry the checkpoint's timings;
#   * a finished run resumes to the same model without training;
#   * refusals: another -np or the wrong kind of file (exit 3), other
#     settings or data (exit 2), each said once, by rank 0; a full disk
#     (exit 4) leaves the previous checkpoint whole.
# Runs on a small subset of DN_DATA (tests/lib/mnist_subset.py). Skipped
# when Open MPI or MNIST is missing.
skipped_parts=0
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3

source "$(dirname "$0")/lib/mpi_env.sh"
dn_mpi_one_thread
# When a rank exits non-zero or is killed, mpirun ends the others at once
# instead of waiting a second or two for them (this test does it 11 times).
export OMPI_MCA_odls_base_sigkill_timeout=0

command -v mpirun >/dev/null || { echo "cli_mpi_pta_checkpoint: mpirun not found, skipped"; exit 77; }
[ -e "$DATA/train-labels-idx1-ubyte" ] || [ -e "$DATA/train-labels-idx1-ubyte.gz" ] ||
  { echo "cli_mpi_pta_checkpoint: no MNIST in $DATA, skipped"; exit 77; }
DATA=$(cd "$DATA" && pwd) DIGITNET=$(realpath "$DIGITNET") SRC=$(cd "$SRC" && pwd)
. "$SRC/tests/lib/workdir.sh"
dn_workdir cli_mpi_pta_ckpt
dn_subset_twins "$DATA" 2000 200

mix() { local np=$1; shift; mpirun -np "$np" "$DIGITNET" pta --data sub --train-size 2000 --max-epochs 4 --distributed mix "$@"; }
# The build says which features it has; a failing run must fail the test, not skip it.
"$DIGITNET" --version | grep -w mpi >/dev/null || { echo "cli_mpi_pta_checkpoint: this digitnet was built without MPI, skipped"; exit 77; }

# meta FILE KEY: a metadata value of a safetensors file.
meta() {
  "$PY" -c 'import json, struct, sys
d = open(sys.argv[1], "rb").read()
print(json.loads(d[8:8 + struct.unpack("<Q", d[:8])[0]])["__metadata__"].get(sys.argv[2], ""))' "$1" "$2"
}
# saved_seconds FILE: the checkpoint's curve timings, as --metrics prints them.
saved_seconds() {
  "$PY" -c 'import json, struct, sys
d = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", d[:8])[0]
t = json.loads(d[8:8 + n])["seconds"]
a, b = t["data_offsets"]
for (v,) in struct.iter_unpack("<d", d[8 + n + a:8 + n + b]): print("%.6f" % v)' "$1"
}

# kill_and_resume NAME KILL_AT EVERY ARGS...: 4 epochs on 2 ranks straight, and
# killed at KILL_AT (rank:epoch) with a checkpoint every EVERY epochs, then resumed.
kill_and_resume() {
  local name=$1 at=$2 every=$3 rc=0; shift 3
  local from=$(( ${at#*:} / every * every )) # epochs in the last checkpoint before the kill
  mix 2 --quiet "$@" --save "$name.full.st" --metrics "$name.full.csv" >/dev/null || fail "$name: uninterrupted run failed"
  DN_TEST_KILL_AT=$at mix 2 --quiet "$@" --checkpoint "$name.ck" --checkpoint-every "$every" \
    --save "$name.never.st" >/dev/null 2>&1 || rc=$?
  [ $rc != 0 ] || fail "$name: the job survived a killed rank (exit 0)"
  [ -e "$name.ck" ] || { fail "$name: no checkpoint was written before the kill"; return; }
  [ ! -e "$name.never.st" ] || fail "$name: the killed job still saved a final model"
  ls ./*.tmp.* >/dev/null 2>&1 && fail "$name: a temporary checkpoint file was left behind"
  [ "$(meta "$name.ck" kind) $(meta "$name.ck" mode | cut -d' ' -f1) $(meta "$name.ck" ranks) $(meta "$name.ck" epochs_done)" = \
    "pta-distributed-checkpoint mix 2 $from" ] || fail "$name: the checkpoint does not hold $from epochs of a 2-rank mix"
  saved_seconds "$name.ck" >"$name.ck_seconds"
  mix 2 "$@" --resume "$name.ck" --checkpoint "$name.ck" --save "$name.resumed.st" --metrics "$name.resumed.csv" \
    >/dev/null 2>"$name.progress" || fail "$name: resume failed: $(cat "$name.progress")"
  cmp -s "$name.full.st" "$name.resumed.st" || fail "$name: resumed model differs from uninterrupted"
  diff <(cut -d, -f1-3 "$name.full.csv") <(cut -d, -f1-3 "$name.resumed.csv") >/dev/null ||
    fail "$name: the resumed curve differs from the uninterrupted one"
  # Not vacuous: a run that ignored the checkpoint would train from the same seed to the same model.
  local trained
  trained=$(grep -o 'epoch [0-9]*:' "$name.progress" | tr -dc '0-9\n' | paste -sd' ')
  [ "$trained" = "$(seq -s' ' "$from" 3)" ] || fail "$name: the resumed run trained epochs '$trained', not $from to 3"
  diff "$name.ck_seconds" <(sed -n "2,$((from + 1))p" "$name.resumed.csv" | cut -d, -f4) >/dev/null ||
    fail "$name: the resumed curve's first $from epochs are not the checkpoint's"
  [ "$(meta "$name.ck" epochs_done)" = 4 ] || fail "$name: the resumed run's final checkpoint does not hold 4 epochs"
}

kill_and_resume float 1:2 1
kill_and_resume double 0:2 1 --precision double
kill_and_resume fault 0:3 2 --fault-rank 1 --fault random --shard random
echo "kill and resume: float, double and a random-fault rank end with the uninterrupted model"

# ---- a finished run resumes to the same model without training
mix 2 --resume float.ck --save finished.st >out.txt 2>progress.txt || fail "resuming a finished run failed"
cmp -s float.full.st finished.st || fail "resuming a finished run changed the model"
grep -q "stopped after 4 epochs" out.txt || fail "a finished run resumed reports: $(cat out.txt)"
! grep -q "epoch [0-9]*:" progress.txt || fail "a finished run resumed trained again: $(cat progress.txt)"

# ---- refusals, said once (by rank 0)
# expect CODE PHRASE ARGS...: mix ARGS exits with CODE and its stderr holds PHRASE exactly once.
expect() {
  local code=$1 phrase=$2 rc=0
  shift 2
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "exit $rc (expected $code): $* — $(cat err.txt)"
  [ "$(grep -cF -- "$phrase" err.txt)" = 1 ] || fail "stderr does not say '$phrase' once: $* — $(cat err.txt)"
}
"$DIGITNET" pta --data sub --train-size 2000 --max-epochs 2 --quiet --checkpoint single.ck >/dev/null
expect 3 "float.ck: written by a job of 2 ranks, this job has 3: resume it with mpirun -np 2" \
  mix 3 --resume float.ck
expect 2 "float.ck: the checkpoint was made with eta 1, this run asks for 0.5" mix 2 --resume float.ck --eta 0.5
expect 2 "float.ck: the checkpoint was made with precision float, this run asks for double" \
  mix 2 --resume float.ck --precision double
expect 2 "float.ck: the checkpoint was trained on other data" \
  mpirun -np 2 "$DIGITNET" pta --data other --train-size 2000 --distributed mix --resume float.ck
expect 3 "single.ck: not a pta-distributed-checkpoint (its kind is pta-checkpoint, from a single-process run)" \
  mix 2 --resume single.ck
expect 3 "float.ck: not a pta-checkpoint (its kind is pta-distributed-checkpoint, from a distributed run)" \
  "$DIGITNET" pta --data sub --train-size 2000 --resume float.ck
expect 3 "float.full.st: not a pta-distributed-checkpoint (its kind is a model)" mix 2 --resume float.full.st
# the split and the fault decide the trajectory too: a resume must repeat them
expect 3 "fault.ck: written by a job run as 'mix shard:random:1 fault:1:random', this one runs as 'mix fault:1:random'" \
  mix 2 --resume fault.ck --fault-rank 1 --fault random
expect 3 "float.ck: written by a job run as 'mix', this one runs as 'mix shard:random:5'" \
  mix 2 --resume float.ck --shard random --shard-seed 5
echo "refusals: another -np, other settings, data, split or fault, the other kind of checkpoint, a model"

# ---- disk full: every rank stops with exit 4, the previous checkpoint stays whole
if mkdir -p full && mount -t tmpfs -o size=64k tmpfs full 2>/dev/null; then
  mounts+=(full)
  mix 2 --quiet --max-epochs 1 --checkpoint full/ck >/dev/null # float32: 31 KiB
  cp full/ck before.ck
  expect 4 "full/ck: cannot write (No space left on device); the previous file is unchanged" \
    mix 2 --quiet --precision double --checkpoint full/ck # float64: 63 KiB does not fit beside it
  cmp -s before.ck full/ck || fail "disk full: the previous checkpoint was changed"
  [ -z "$(ls full | grep '\.tmp\.')" ] || fail "disk full: temporary files left: $(ls full)"
  echo "disk full: refused with exit 4, the previous checkpoint intact"
else
  skipped_parts=$((skipped_parts + 1))
  echo "SKIP: disk full (mounting a tmpfs is not permitted here)"
fi

[ $failures = 0 ] || { echo "cli_mpi_pta_checkpoint: $failures failed"; exit 1; }
[ "$skipped_parts" -eq 0 ] || { echo "cli_mpi_pta_checkpoint: passed, $skipped_parts part(s) skipped (SKIP above)"; exit 77; }
echo "cli_mpi_pta_checkpoint: all passed"
