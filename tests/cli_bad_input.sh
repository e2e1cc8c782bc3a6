#!/usr/bin/env bash
# cli_bad_input.sh — every bad flag value and every bad file is refused with
# the documented exit code (docs/exit-codes.md: 2 usage, 3 bad input, 4 I/O)
# and a message that names the flag or file and says what is wrong — for a
# number, with its valid range. Each case is one line below:
#   expect EXIT 'PHRASE' COMMAND...
# Runs on a small subset of DN_DATA, plus files broken on purpose.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
[ -e "$DATA/train-labels-idx1-ubyte" ] || [ -e "$DATA/train-labels-idx1-ubyte.gz" ] ||
  { echo "SKIP: no MNIST in $DATA (scripts/fetch_mnist.sh)"; exit 77; }
DATA=$(cd "$DATA" && pwd) DIGITNET=$(realpath "$DIGITNET")
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_bad_XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0 cases=0

# expect CODE PHRASE CMD...: CMD exits with CODE, stderr holds PHRASE, and
# nothing on stderr is a crash report.
expect() {
  local code=$1 phrase=$2 rc=0
  shift 2
  cases=$((cases + 1))
  "$@" >out.txt 2>err.txt || rc=$?
  if [ "$rc" -ne "$code" ]; then
    echo "FAIL: exit $rc, expected $code: ${*#"$DIGITNET"} — $(cat err.txt)"
    failures=$((failures + 1))
  elif ! grep -qF -- "$phrase" err.txt; then
    echo "FAIL: message lacks '$phrase': ${*#"$DIGITNET"} — $(cat err.txt)"
    failures=$((failures + 1))
  elif grep -qE "Sanitizer|runtime error|Segmentation|Aborted" err.txt; then
    echo "FAIL: crash report: ${*#"$DIGITNET"} — $(cat err.txt)"
    failures=$((failures + 1))
  else
    [ -z "${VERBOSE:-}" ] || echo "ok $code: ${*#"$DIGITNET "} → $(head -c 300 err.txt)"
  fi
}
pta() { "$DIGITNET" pta --data sub --train-size 100 --max-epochs 1 --quiet "$@"; }

"$PY" "$SRC/tests/lib/mnist_subset.py" "$DATA" sub 500 100
pta --save good.st >/dev/null
pta --checkpoint good.ck >/dev/null

# ---- flag values (exit 2), each with the valid range
expect 2 "--train-size -5: out of range (valid: 1 to 1000000, whole numbers)" pta --train-size -5
expect 2 "--train-size 0: out of range (valid: 1 to 1000000" pta --train-size 0
expect 2 "--train-size 2.5: not a whole number (valid: 1 to 1000000" pta --train-size 2.5
expect 2 "train size 501 is larger than the training set (valid: 1 to 500)" pta --train-size 501
expect 2 "--eta 0: out of range (valid: above 0 to 1000000000000)" pta --eta 0
expect 2 "--eta -1: out of range (valid: above 0 to" pta --eta -1
expect 2 "--eta nan: not a finite number (valid: above 0 to" pta --eta nan
expect 2 "--eta inf: not a finite number (valid: above 0 to" pta --eta inf
expect 2 "--eta 1e999: not a finite number (valid: above 0 to" pta --eta 1e999
expect 2 "--eta fast: not a number (valid: above 0 to" pta --eta fast
expect 2 "--eta 1x: not a number" pta --eta 1x
expect 2 "--epsilon 1.5: out of range (valid: 0 to 1)" pta --epsilon 1.5
expect 2 "--epsilon -0.1: out of range (valid: 0 to 1)" pta --epsilon -0.1
expect 2 "--max-epochs 0: out of range (valid: 1 to 1000000000" pta --max-epochs 0
expect 2 "--max-epochs 1e10: out of range (valid: 1 to 1000000000" pta --max-epochs 1e10
expect 2 "--threads -1: out of range (valid: 0 to 1024" pta --threads -1
expect 2 "--seed -1: out of range (valid: 0 to" pta --seed -1
expect 2 "--checkpoint-every 0: out of range (valid: 1 to" pta --checkpoint good.ck --checkpoint-every 0
expect 2 "--precision half: unknown (valid: float, double)" pta --precision half
expect 2 "--average 1: this flag takes no value" pta --average=1
expect 2 "unknown option '--etta'" pta --etta 1
expect 2 "--eta needs a value (E)" pta --eta
expect 2 "unexpected argument 'extra'" pta extra
expect 2 "unknown command 'train'" "$DIGITNET" train
expect 2 "missing MODEL" "$DIGITNET" eval
expect 2 "--batch 65537: out of range (valid: 0 to 65536" "$DIGITNET" mlp --data sub --batch 65537
expect 2 "--lr nan: not a finite number (valid: above 0 to" "$DIGITNET" mlp --data sub --lr nan
expect 2 "hidden sizes '0': each must be 1 to 65536" "$DIGITNET" mlp --data sub --hidden 0
expect 2 "--activation swish: unknown (valid: sigmoid, tanh, relu)" "$DIGITNET" mlp --data sub --activation swish
expect 2 "good.ck: the checkpoint was made with eta 1, this run asks for 2" pta --resume good.ck --eta 2

# ---- missing files (exit 4)
expect 4 "/nonexistent-dn: no train images file (looked for train-images-idx3-ubyte" pta --data /nonexistent-dn
expect 4 "missing.st: cannot open (No such file or directory)" "$DIGITNET" eval missing.st --data sub
expect 4 "missing.npy: cannot open (No such file or directory)" pta --init-weights missing.npy
expect 4 "missing.ck: cannot open (No such file or directory)" pta --resume missing.ck
expect 4 "nowhere/m.st: cannot create a temporary file in folder 'nowhere'" pta --save nowhere/m.st

# ---- broken data files (exit 3)
broken() { rm -rf "$1" && cp -r sub "$1"; }
broken trunc && truncate -s -100 trunc/train-images-idx3-ubyte
expect 3 "trunc/train-images-idx3-ubyte: expected 392016 bytes, file has 391916 (truncated)" pta --data trunc
broken extra && printf 'xx' >>extra/t10k-labels-idx1-ubyte
expect 3 "extra/t10k-labels-idx1-ubyte: expected 108 bytes, file has 110 (trailing data)" pta --data extra
broken label && printf '\014' | dd of=label/train-labels-idx1-ubyte bs=1 seek=8 conv=notrunc status=none
expect 3 "label/train-labels-idx1-ubyte: label 12 at index 0 is out of range 0-9" pta --data label
broken magic && printf '\000\000\010\001' | dd of=magic/train-images-idx3-ubyte bs=1 conv=notrunc status=none
expect 3 "magic/train-images-idx3-ubyte: IDX file has 1 dimension(s), expected 3 for images" pta --data magic
broken claim && printf '\377\377\377\377' | dd of=claim/train-images-idx3-ubyte bs=1 seek=4 conv=notrunc status=none
expect 3 "claim/train-images-idx3-ubyte: declares 4294967295 images, more than the limit of 1000000" pta --data claim
broken zipped && gzip -c sub/train-images-idx3-ubyte >zipped/train-images-idx3-ubyte
expect 3 "zipped/train-images-idx3-ubyte: gzip data read as raw IDX (rename the file to end in .gz)" pta --data zipped
broken gzcut && gzip -c sub/train-images-idx3-ubyte >whole.gz && rm gzcut/train-images-idx3-ubyte
head -c 2000 whole.gz >gzcut/train-images-idx3-ubyte.gz
expect 3 "gzcut/train-images-idx3-ubyte.gz: truncated gzip data" pta --data gzcut
broken count && "$PY" "$SRC/tests/lib/mnist_subset.py" "$DATA" count 400 100 && cp sub/train-labels-idx1-ubyte count/
expect 3 "count/train-labels-idx1-ubyte: 500 labels, but count/train-images-idx3-ubyte has 400 images" pta --data count

# ---- broken models and checkpoints (exit 3)
# flip_byte FILE K: inverts every bit of the K-th byte from the end. (Writing a fixed
# character did nothing about once in 256 runs: the wall-time bytes sometimes held it.)
flip_byte() {
  local at=$(($(stat -c %s "$1") - $2)) old
  old=$(od -An -tu1 -j "$at" -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $((old ^ 255)))" | dd of="$1" bs=1 seek="$at" conv=notrunc status=none
}
cp good.st flipped.st && flip_byte flipped.st 7
expect 3 "flipped.st: payload CRC32 mismatch" "$DIGITNET" eval flipped.st --data sub
head -c 20000 good.st >cut.st
expect 3 "cut.st: tensor 'W': data_offsets [0, 31360] go past the payload's" "$DIGITNET" eval cut.st --data sub
head -c 5 good.st >tiny.st
expect 3 "tiny.st: file is 5 bytes, too short for the 8-byte header length" "$DIGITNET" eval tiny.st --data sub
echo "not a model at all" >text.st
expect 3 "text.st: header length" "$DIGITNET" eval text.st --data sub
cp good.ck flipped.ck && flip_byte flipped.ck 3
expect 3 "flipped.ck: payload CRC32 mismatch" pta --resume flipped.ck
expect 3 "good.st: not a pta-checkpoint (its kind is a model)" pta --resume good.st
expect 3 "good.ck: this is a training checkpoint (pta-checkpoint), not a model" "$DIGITNET" eval good.ck --data sub
expect 3 "sub/t10k-labels-idx1-ubyte: not a .npy file (bad magic)" pta --init-weights sub/t10k-labels-idx1-ubyte
echo "hello" >not.png
if "$DIGITNET" --version | grep -w png >/dev/null; then
  expect 3 "not.png: neither a PNG nor an IDX image file" "$DIGITNET" predict good.st not.png
else
  # Built without libpng: a .png argument is refused up front (exit 2) with one line
  # and nothing on stdout; a file of another name is still sniffed and refused as above.
  expect 2 "digitnet was built without libpng; install libpng-dev and rebuild" "$DIGITNET" predict good.st not.png
  if [ "$(wc -l <err.txt)" -ne 1 ] || [ -s out.txt ]; then
    echo "FAIL: predict not.png without libpng: not one line on stderr and nothing on stdout — $(cat out.txt err.txt)"
    failures=$((failures + 1))
  fi
  cp not.png not.txt
  expect 3 "not.txt: neither a PNG nor an IDX image file" "$DIGITNET" predict good.st not.txt
fi

[ $failures -eq 0 ] || { echo "cli_bad_input: $failures of $cases cases failed"; exit 1; }
echo "cli_bad_input: $cases cases refused with the right exit code and message"
