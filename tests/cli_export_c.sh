#!/usr/bin/env bash
# cli_export_c.sh — `digitnet export MODEL --c-source F.c --c-header F.h`:
# small MLPs (relu, tanh and sigmoid hidden layers, softmax output; one
# sigmoid output trained with mse) and a perceptron, each exported, compiled
# with `cc -std=c99 -Wall -Wextra -Werror -O2` and a driver that classifies
# every MNIST test image: the classes must be digitnet predict's on all
# 10 000, and the probabilities (a perceptron's scores) within printing
# rounding. --npy and --c-source together; refusals (a bad model path, a
# header folder that does not exist, --c-header alone) leave no file behind.
# Skipped (77) without MNIST or a C compiler.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
command -v cc >/dev/null || { echo "cli_export_c: no C compiler (cc), skipped"; exit 77; }
[ -e "$DATA/t10k-images-idx3-ubyte" ] || [ -e "$DATA/t10k-images-idx3-ubyte.gz" ] ||
  { echo "cli_export_c: no MNIST in $DATA, skipped"; exit 77; }
source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_export_c
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# The test images as raw IDX for the driver, which reads no gzip.
if [ -e "$DATA/t10k-images-idx3-ubyte" ]; then T10K=$DATA/t10k-images-idx3-ubyte
else gzip -dc "$DATA/t10k-images-idx3-ubyte.gz" >t10k.idx && T10K=$work/t10k.idx; fi

cat >driver.c <<'EOF'
/* Classifies every image of an IDX file: "class p0 ... p9" per line. */
#include <stdio.h>
#include "model.h"

int main(int argc, char **argv)
{
    unsigned char head[16], image[784];
    float pixels[784], p[10];
    FILE *fp = argc == 2 ? fopen(argv[1], "rb") : NULL;
    int i;
    if (!fp || fread(head, 1, 16, fp) != 16) return 1;
    while (fread(image, 1, 784, fp) == 784) {
        for (i = 0; i < 784; i++) pixels[i] = (float)image[i] / 255.0f;
        printf("%d", digitnet_classify(pixels, p));
        for (i = 0; i < 10; i++) printf(" %.6f", p[i]);
        printf("\n");
    }
    fclose(fp);
    return 0;
}
EOF

# check NAME: export NAME.st, compile, compare with digitnet predict.
check() {
  local name=$1
  mkdir -p "$name"
  "$DIGITNET" export "$name.st" --c-source "$name/model.c" --c-header "$name/model.h" >"$name/export.txt" ||
    { fail "$name: export failed"; return; }
  grep -qx "wrote $name/model.c and $name/model.h" "$name/export.txt" || fail "$name: export said $(cat "$name/export.txt")"
  cc -std=c99 -Wall -Wextra -Werror -O2 -I"$name" "$name/model.c" driver.c -o "$name/classify" -lm 2>"$name/cc.txt" ||
    { fail "$name: the generated C does not compile: $(head -5 "$name/cc.txt")"; return; }
  "$name/classify" "$T10K" >"$name/c.txt" || { fail "$name: the compiled classifier failed"; return; }
  "$DIGITNET" predict "$name.st" "$T10K" | cut -d' ' -f3,5- >"$name/digitnet.txt"
  [ "$(wc -l <"$name/c.txt")" -eq 10000 ] || fail "$name: the classifier printed $(wc -l <"$name/c.txt") lines"
  cut -d' ' -f1 "$name/c.txt" >"$name/c_classes.txt"
  cut -d' ' -f1 "$name/digitnet.txt" >"$name/digitnet_classes.txt"
  local same
  same=$(paste -d' ' "$name/c_classes.txt" "$name/digitnet_classes.txt" | awk '$1 == $2' | wc -l)
  echo "$name: C export predictions equal digitnet's on $same/10000 test images"
  [ "$same" -eq 10000 ] || fail "$name: the C classifier agrees with digitnet predict on $same/10000 images only"
  # predict prints 4 decimals: the values agree within that rounding (and a little).
  paste -d' ' "$name/c.txt" "$name/digitnet.txt" | awk -v n="$name" '
    { for (j = 2; j <= 11; j++) { d = $j - $(j + 11); if (d < 0) d = -d; if (d > max) max = d } }
    END { printf "%s: largest probability difference %.2g\n", n, max; exit !(max <= 6e-5) }' ||
    fail "$name: probabilities differ from predict's by more than its rounding"
}

for act in relu tanh sigmoid; do
  "$DIGITNET" mlp --data "$DATA" --train-size 2000 --epochs 1 --hidden 32 --activation $act --threads 1 \
    --quiet --save "mlp_$act.st" >/dev/null || fail "mlp --activation $act did not train"
  check "mlp_$act"
done
"$DIGITNET" mlp --data "$DATA" --train-size 2000 --epochs 1 --hidden 24,16 --activation sigmoid --loss mse \
  --optimizer adam --lr 0.01 --threads 1 --quiet --save mlp_mse.st >/dev/null || fail "mlp --loss mse did not train"
check mlp_mse
"$DIGITNET" pta --data "$DATA" --train-size 1000 --max-epochs 3 --threads 1 --quiet --save pta.st >/dev/null ||
  fail "pta did not train"
check pta
grep -q '^static const double dn_w\[7840\] = {$' pta/model.c || fail "the perceptron's W is not kept in double"
grep -q '^ \*   hidden = 32$' mlp_relu/model.c || fail "the training metadata are not in the comment"

# --npy and --c-source at once; the source alone (no header) compiles too.
"$DIGITNET" export mlp_tanh.st --npy both --c-source both.c >both.txt || fail "export --npy --c-source failed"
[ -s both/layers.1.bias.npy ] && [ -s both.c ] && grep -q '^wrote both.c$' both.txt || fail "export --npy --c-source: $(cat both.txt)"
cc -std=c99 -Wall -Wextra -Werror -O2 -c both.c -o both.o || fail "the source without a header does not compile"

# Refusals: a one-line message, exit != 0, no file (and no temporary file) left.
mkdir -p refused
if "$DIGITNET" export no-such.st --c-source refused/a.c --c-header refused/a.h >out.txt 2>err.txt; then
  fail "export of a missing model succeeded"
fi
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q 'no-such.st' err.txt || fail "missing model: $(cat err.txt)"
if "$DIGITNET" export mlp_relu.st --c-source refused/b.c --c-header no-such-folder/b.h >out.txt 2>err.txt; then
  fail "export with an unwritable header path succeeded"
fi
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q 'no-such-folder/b.h' err.txt || fail "unwritable header: $(cat err.txt)"
set +e
"$DIGITNET" export mlp_relu.st --c-header refused/c.h >out.txt 2>err.txt
rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- '--c-header needs --c-source' err.txt || fail "--c-header alone: exit $rc, $(cat err.txt)"
[ -z "$(ls -A refused)" ] || fail "a refused export left files: $(ls -A refused)"

[ "$failures" -eq 0 ] || { echo "cli_export_c: $failures failure(s)"; exit 1; }
echo "cli_export_c: all passed"
