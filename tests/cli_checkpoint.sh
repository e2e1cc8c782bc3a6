#!/usr/bin/env bash
# cli_checkpoint.sh — `digitnet pta --checkpoint/--resume` end to end:
#   * 6 epochs straight and 3 + resume 3 save byte-identical models and curves,
#     in float with averaging and in double;
#   * a checkpoint is written at the end too, a finished run resumes to the
#     same result without training, and --max-epochs can extend a run;
#   * a resume with other settings or other data is refused, naming both;
#   * disk full (a 64 KiB tmpfs) and a read-only folder give a clear error,
#     exit code 4, and the previous file survives, no temporary file left.
# Runs on a small subset of DN_DATA (tests/lib/mnist_subset.py); the mount
# parts are skipped, with a message, where mounting is not permitted.
skipped_parts=0
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
[ -e "$DATA/train-labels-idx1-ubyte" ] || [ -e "$DATA/train-labels-idx1-ubyte.gz" ] ||
  { echo "SKIP: no MNIST in $DATA (scripts/fetch_mnist.sh)"; exit 77; }
DATA=$(cd "$DATA" && pwd) DIGITNET=$(realpath "$DIGITNET")
. "$SRC/tests/lib/workdir.sh"
dn_workdir cli_ckpt
dn_subset_twins "$DATA" 2000 200

pta() { "$DIGITNET" pta --data sub --train-size 2000 --quiet "$@"; }

# expect CODE PHRASE CMD...: CMD exits with CODE and its stderr holds PHRASE.
expect() {
  local code=$1 phrase=$2 rc=0
  shift 2
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "exit $rc (expected $code): $* — $(cat err.txt)"
  grep -qF -- "$phrase" err.txt || fail "message lacks '$phrase': $* — $(cat err.txt)"
}

# ---- 6 straight = 3 + resume 3, bit for bit
for variant in "--average" "--precision double"; do
  rm -f ck straight.st resumed.st
  # shellcheck disable=SC2086
  pta --max-epochs 6 $variant --save straight.st --metrics straight.csv >/dev/null
  # shellcheck disable=SC2086
  pta --max-epochs 3 $variant --checkpoint ck >/dev/null
  # shellcheck disable=SC2086
  pta --max-epochs 6 $variant --checkpoint ck --resume ck --save resumed.st --metrics resumed.csv >/dev/null
  cmp -s straight.st resumed.st || fail "$variant: 6 epochs straight and 3 + 3 resumed saved different models"
  diff <(cut -d, -f1-3 straight.csv) <(cut -d, -f1-3 resumed.csv) >/dev/null ||
    fail "$variant: the resumed run's curve differs"
  [ "$(wc -l <resumed.csv)" -eq 7 ] || fail "$variant: the resumed metrics hold $(wc -l <resumed.csv) lines, not 7"
done
echo "resume: 6 epochs straight and 3 + 3 resumed save identical models (float with average, double)"

# ---- the last epoch is saved even off the N-epoch rhythm; a finished run resumes as is
rm -f ck
pta --max-epochs 5 --checkpoint ck --checkpoint-every 2 --save a.st >/dev/null
"$PY" - <<'EOF' || fail "the final checkpoint does not hold 5 epochs"
import json, struct
data = open("ck", "rb").read()
meta = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])["__metadata__"]
assert meta["epochs_done"] == "5" and meta["kind"] == "pta-checkpoint", meta
EOF
pta --max-epochs 5 --resume ck --save b.st >out.txt
cmp -s a.st b.st || fail "resuming a finished run changed the model"
grep -q "after 5 epochs" out.txt || fail "a finished run resumed reports: $(cat out.txt)"
pta --max-epochs 6 --resume ck --save c.st >/dev/null
pta --max-epochs 6 --save d.st >/dev/null
cmp -s c.st d.st || fail "extending a run with --max-epochs differs from running it straight"

# ---- a resume must match the checkpoint
expect 2 "ck: the checkpoint was made with eta 1, this run asks for 0.5" pta --max-epochs 6 --resume ck --eta 0.5
expect 2 "ck: the checkpoint was made with seed 1, this run asks for 7" pta --max-epochs 6 --resume ck --seed 7
expect 2 "ck: the checkpoint was made with train size 2000, this run asks for 1000" \
  "$DIGITNET" pta --data sub --train-size 1000 --quiet --max-epochs 6 --resume ck
expect 2 "ck: the checkpoint was trained on other data" \
  "$DIGITNET" pta --data other --train-size 2000 --quiet --max-epochs 6 --resume ck
expect 3 "a.st: not a pta-checkpoint (its kind is a model)" pta --resume a.st
expect 3 "ck: this is a training checkpoint (pta-checkpoint), not a model" "$DIGITNET" eval ck --data sub
expect 4 "missing-ck: cannot open" pta --resume missing-ck

# ---- disk full and read-only: the previous file survives
try_mount() { # DIR SIZE: a fresh tmpfs, or 1 when mounting is not permitted
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2" tmpfs "$1" 2>/dev/null || return 1
  mounts+=("$1")
}
if try_mount full 64k; then
  pta --max-epochs 1 --save full/model.st >/dev/null # float32: 31 KiB
  cp full/model.st before.st
  expect 4 "full/model.st: cannot write (No space left on device); the previous file is unchanged" \
    pta --max-epochs 1 --precision double --save full/model.st # float64: 63 KiB does not fit beside it
  cmp -s before.st full/model.st || fail "disk full: the previous model was changed"
  expect 4 "full/ck: cannot write (No space left on device); the previous file is unchanged" \
    pta --max-epochs 3 --precision double --checkpoint full/ck
  [ ! -e full/ck ] || fail "disk full: a checkpoint appeared"
  [ -z "$(ls full | grep '\.tmp\.')" ] || fail "disk full: temporary files left: $(ls full)"
  echo "disk full: refused with exit 4, the previous model intact"
else
  skipped_parts=$((skipped_parts + 1))
  echo "SKIP: disk full (mounting a tmpfs is not permitted here)"
fi
if try_mount ro 1m && pta --max-epochs 1 --save ro/model.st >/dev/null && mount -o remount,ro ro 2>/dev/null; then
  expect 4 "ro/model.st: cannot create a temporary file in folder 'ro' (Read-only file system); the previous file is unchanged" \
    pta --max-epochs 2 --save ro/model.st
  expect 4 "ro/ck: cannot create a temporary file in folder 'ro' (Read-only file system)" \
    pta --max-epochs 2 --checkpoint ro/ck
  "$PY" "$SRC/tests/lib/check_safetensors.py" ro/model.st perceptron || fail "read-only: the previous model is damaged"
  echo "read-only folder: refused with exit 4, the previous model intact"
else
  skipped_parts=$((skipped_parts + 1))
  echo "SKIP: read-only folder (mounting or remounting a tmpfs is not permitted here)"
fi

[ $failures -eq 0 ] || { echo "cli_checkpoint: $failures failure(s)"; exit 1; }
[ "$skipped_parts" -eq 0 ] || { echo "cli_checkpoint: passed, $skipped_parts part(s) skipped (SKIP above)"; exit 77; }
echo "cli_checkpoint: all passed"
