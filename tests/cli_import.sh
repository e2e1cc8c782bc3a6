#!/usr/bin/env bash
# cli_import.sh — `digitnet import --npy DIR --out MODEL`:
#   the round trip export --npy → import → export --npy gives the same files,
#   byte for byte, for an MLP and a perceptron, and the same eval output;
#   a network made in NumPy alone (tests/lib/make_numpy_net.py) imported
#   with --activation tanh scores in digitnet eval the accuracy NumPy found;
#   malformed folders (a wrong shape, a float64 weight, NaN, a missing
#   layer, a broken chain, a description contradicting --activation) are
#   refused with exit 3 (2 for the contradiction) and one line naming the
#   file, and no model file is written.
# Skipped (77) without MNIST or NumPy (Debian's python3-numpy).
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
PY=/usr/bin/python3
[ -e "$DATA/t10k-images-idx3-ubyte" ] || [ -e "$DATA/t10k-images-idx3-ubyte.gz" ] ||
  { echo "cli_import: no MNIST in $DATA, skipped"; exit 77; }
"$PY" -c 'import numpy' 2>/dev/null || { echo "cli_import: no NumPy for $PY (python3-numpy), skipped"; exit 77; }
source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_import
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# ---- round trips: the exported files again, byte for byte
"$DIGITNET" mlp --data "$DATA" --train-size 2000 --epochs 1 --hidden 32,16 --activation tanh --loss mse \
  --optimizer adam --lr 0.01 --threads 1 --quiet --save m.st >/dev/null || fail "mlp did not train"
"$DIGITNET" pta --data "$DATA" --train-size 1000 --max-epochs 2 --precision float --threads 1 --quiet \
  --save p.st >/dev/null || fail "pta did not train"
for m in m p; do
  "$DIGITNET" export $m.st --npy $m.npy >/dev/null || fail "$m: export --npy failed"
  "$DIGITNET" import --npy $m.npy --out $m.back.st >$m.import.txt || fail "$m: import failed"
  "$DIGITNET" export $m.back.st --npy $m.back.npy >/dev/null || fail "$m: export of the imported model failed"
  for f in $m.npy/*; do
    cmp -s "$f" "$m.back.npy/$(basename "$f")" || fail "$m: $(basename "$f") differs after export → import → export"
  done
  [ "$(ls $m.npy | wc -l)" -eq "$(ls $m.back.npy | wc -l)" ] || fail "$m: the exports hold different files"
  "$DIGITNET" eval $m.st --data "$DATA" | tail -n +2 >$m.eval.txt
  "$DIGITNET" eval $m.back.st --data "$DATA" | tail -n +2 >$m.back.eval.txt
  cmp -s $m.eval.txt $m.back.eval.txt || fail "$m: eval differs after the round trip"
done
grep -qx 'wrote m.back.st (mlp, 784 -> 32 -> 16 -> 10, tanh, loss mse)' m.import.txt ||
  fail "import said: $(cat m.import.txt)"
"$DIGITNET" inspect m.back.st >inspect.txt || fail "inspect of the imported model failed"
grep -q 'origin  *imported from .npy files' inspect.txt || fail "the imported model does not say its origin"

# ---- a network made in NumPy alone
"$PY" "$SRC/tests/lib/make_numpy_net.py" "$DATA" numpy_net >numpy.txt || fail "make_numpy_net.py failed"
"$DIGITNET" import --npy numpy_net --activation tanh --out numpy.st >/dev/null || fail "import of the NumPy network failed"
"$DIGITNET" eval numpy.st --data "$DATA" >numpy.eval.txt || fail "eval of the NumPy network failed"
want=$(grep '^accuracy: ' numpy.txt)
got=$(grep '^accuracy: ' numpy.eval.txt)
echo "NumPy network: NumPy $want, digitnet eval $got"
[ -n "$want" ] && [ "$want" = "$got" ] || fail "NumPy says '$want', digitnet eval says '$got'"
awk '{ exit !($2 > 0.7) }' <<<"$want" || fail "the NumPy network is no classifier ($want): the comparison proves little"

# ---- refusals: exit 3 (2), one line naming the file, no model written
refuse() { # CODE TEXT DIR [flags]: import DIR must fail so
  local code=$1 text=$2 dir=$3 rc=0
  shift 3
  "$DIGITNET" import --npy "$dir" --out bad.st "$@" >out.txt 2>err.txt || rc=$?
  [ $rc -eq "$code" ] || fail "import $dir: exit $rc, expected $code ($(cat err.txt))"
  [ "$(wc -l <err.txt)" -eq 1 ] && grep -qF -- "$text" err.txt || fail "import $dir: '$(cat err.txt)' lacks '$text'"
  [ ! -e bad.st ] || { fail "import $dir left bad.st"; rm -f bad.st; }
}
spoil() { # NAME PYTHON: a copy of numpy_net changed by the Python lines (np, d = the folder)
  rm -rf "$1" && cp -r numpy_net "$1"
  "$PY" -c "import numpy as np; d = '$1'; $2"
}
spoil shape "np.save(d + '/layers.0.weight.npy', np.zeros((64, 783), np.float32))"
refuse 3 "shape/layers.0.weight.npy: shape (64, 783)" shape
spoil dtype "np.save(d + '/layers.1.weight.npy', np.zeros((10, 64)))"
refuse 3 "dtype/layers.1.weight.npy: dtype '<f8', but float32 '<f4' is needed" dtype
spoil nan "b = np.load(d + '/layers.0.bias.npy'); b[5] = np.nan; np.save(d + '/layers.0.bias.npy', b)"
refuse 3 "nan/layers.0.bias.npy: value 5 is not finite" nan
spoil missing "import os; os.remove(d + '/layers.1.weight.npy'); os.remove(d + '/layers.1.bias.npy')"
refuse 3 "missing/layers.0.weight.npy: the last layer gives 64 outputs, not the 10 classes" missing
spoil chain "np.save(d + '/layers.1.weight.npy', np.zeros((10, 63), np.float32))"
refuse 3 "chain/layers.1.weight.npy: shape (10, 63), but the chain (layers.0 gives 64 outputs) needs (10, 64)" chain
spoil nobias "import os; os.remove(d + '/layers.1.bias.npy')"
refuse 3 "nobias/layers.1.bias.npy: missing" nobias
refuse 2 "m.npy/digitnet-model.txt says activation tanh, but relu was asked for" m.npy --activation relu
# as if layers.2.* were left from an earlier export of a deeper network
rm -rf stale && cp -r m.npy stale && sed -i 's/^layers = 3$/layers = 2/' stale/digitnet-model.txt
refuse 3 "stale/digitnet-model.txt says 2 layers, but the folder holds layers.0 to layers.2" stale
refuse 3 "empty: no W.npy (a perceptron) and no layers.0.weight.npy (an MLP)" "$(mkdir -p empty && echo empty)"
refuse 4 "no-such-folder: not a folder (No such file or directory)" no-such-folder

[ "$failures" -eq 0 ] || { echo "cli_import: $failures failure(s)"; exit 1; }
echo "cli_import: all passed"
