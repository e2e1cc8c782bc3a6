#!/usr/bin/env bash
# The perceptron end to end on real MNIST, as a user runs it: n = 1000 reaches 0 training
# errors and a 10-25% test error; the metrics CSV, eval, --init-weights and --help agree.
skipped_parts=0
set -euo pipefail
: "${DIGITNET:?}" "${DN_DATA:?}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$DIGITNET" pta --data "$DN_DATA" --train-size 1000 --seed 1 --metrics m.csv --save p.st --quiet)
echo "$out"
epochs=$(sed -n 's/^converged after \([0-9]*\) epochs: 0 errors of 1000 .*/\1/p' <<<"$out")
[ -n "$epochs" ] || fail "n = 1000 did not converge to 0 training errors"
test_error=$(sed -n 's/^test error: \([0-9.]*\)% .*/\1/p' <<<"$out")
awk -v e="$test_error" 'BEGIN { exit !(e >= 10 && e <= 25) }' || fail "test error $test_error% outside 10-25%"

[ "$(head -1 m.csv)" = "epoch,errors,error_rate,seconds" ] || fail "metrics header: $(head -1 m.csv)"
[ "$(($(wc -l < m.csv) - 1))" -eq "$epochs" ] || fail "metrics has $(($(wc -l < m.csv) - 1)) epochs, run said $epochs"
[ "$(tail -1 m.csv | cut -d, -f2)" = 0 ] || fail "last metrics row is not 0 errors"
[ "$(sed -n 2p m.csv | cut -d, -f1)" = 0 ] || fail "the curve does not start at epoch 0"

accuracy=$("$DIGITNET" eval p.st --data "$DN_DATA" | sed -n 's/^accuracy: //p')
awk -v a="$accuracy" -v e="$test_error" 'BEGIN { d = (1 - a) * 100 - e; exit !(d < 0.005 && d > -0.005) }' \
  || fail "eval accuracy $accuracy disagrees with the run's test error $test_error%"

# --init-weights: an all-zero W scores every class 0 and predicts class 0 (lowest index on
# ties), so epoch 0 must count exactly the images among the first 1000 whose label is not 0.
/usr/bin/python3 -c 'import numpy as np; np.save("zero.npy", np.zeros((10, 784)))'
not_zero=$(/usr/bin/python3 -c "import numpy as np; print(int(np.count_nonzero(np.fromfile('$DN_DATA/train-labels-idx1-ubyte', np.uint8, offset=8)[:1000])))")
"$DIGITNET" pta --data "$DN_DATA" --train-size 1000 --init-weights zero.npy --max-epochs 1 --metrics z.csv --quiet >/dev/null
[ "$(sed -n 2p z.csv | cut -d, -f2)" = "$not_zero" ] || fail "zero W: epoch 0 has $(sed -n 2p z.csv | cut -d, -f2) errors, expected $not_zero"
# What export writes, --init-weights reads back.
"$DIGITNET" export p.st --npy w >/dev/null
[ -f w/W.npy ] || fail "export wrote no W.npy"
"$DIGITNET" pta --data "$DN_DATA" --train-size 1000 --init-weights w/W.npy --max-epochs 2 --quiet >/dev/null \
  || fail "pta refused the exported W.npy"

help=$("$DIGITNET" pta --help)
grep -q -- "--train-size N .*(default 60000)" <<<"$help" || fail "--help does not print the train-size default"
grep -q -- "--eta E .*(default 1)" <<<"$help" || fail "--help does not print the eta default"

fashion=/usr/share/datasets/fashion-mnist
if [ -d "$fashion" ]; then
  "$DIGITNET" pta --data "$fashion" --train-size 500 --max-epochs 3 --quiet | grep -q "^test error: " \
    || fail "Fashion-MNIST (gzipped IDX) did not train"
else
  skipped_parts=$((skipped_parts + 1))
  echo "skip: $fashion absent (Debian package dataset-fashion-mnist)"
fi
[ "$skipped_parts" -eq 0 ] || { echo "cli_pta: passed, $skipped_parts part(s) skipped (SKIP above)"; exit 77; }
echo "cli_pta: all checks passed"
