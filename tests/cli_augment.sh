#!/usr/bin/env bash
# cli_augment.sh — `digitnet mlp --augment` and `digitnet augment`:
#   bad specs refused with exit 2 and one line naming the part that is wrong;
#   --help states the kinds, their units and the default;
#   a short augmented run learns (test accuracy above 70 % on 2000 images, 3 epochs; about 82 % measured) and says what
#   it distorts; repeating the flag and joining with '+' are the same run (same model);
#   an augmented run stopped after 1 epoch and resumed to 3 ends with the 3-epoch model, and a
#   resume with other augmentation settings is refused (exit 3, the setting named);
#   `digitnet augment` writes a PNG of the stated size ((K + C (29 K)) x (K + N (29 K)) for scale K,
#   C = 1 + V columns, N rows); without libpng it is refused with one line.
# Skipped (77) only without MNIST.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
SRC=$(realpath "${DN_SOURCE_DIR:-$(dirname "$0")/..}")
PY=/usr/bin/python3
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_augment: no MNIST in $DATA, skipped"; exit 77; }
source "$SRC/tests/lib/workdir.sh"
dn_workdir cli_augment

# refused: exit 2, one line on stderr containing $1; the rest is the command
refused() {
  local want=$1 rc=0
  shift
  "$DIGITNET" "$@" >out.txt 2>err.txt || rc=$?
  if [ "$rc" != 2 ] || [ "$(wc -l <err.txt)" != 1 ] || ! grep -qF -- "$want" err.txt; then
    fail "$* : exit $rc (expected 2), stderr '$(cat err.txt)' (expected one line with '$want')"
  fi
}
mlp=(mlp --data "$DATA" --epochs 1 --train-size 100)
refused "elastic:SIGMA,ALPHA" "${mlp[@]}" --augment elastic:4
refused "elastic:SIGMA,ALPHA" "${mlp[@]}" --augment elastic:4,x
refused "affine:ROT,SCALE,SHEAR,SHIFT" "${mlp[@]}" --augment affine:10,0.1,10
refused "SHIFT 20 is out of range" "${mlp[@]}" --augment affine:10,0.1,10,20
refused "SCALE 2 is out of range" "${mlp[@]}" --augment elastic:4,34+affine:10,2,10,2
refused "SIGMA 50 is out of range" "${mlp[@]}" --augment elastic:50,34
refused "unknown kind" "${mlp[@]}" --augment blur:2
refused "unknown kind" "${mlp[@]}" --augment elastic:4,34+
refused "--augment needs a value" "${mlp[@]}" --augment
# (a distributed run under the sanitizers: Open MPI's own allocations are reported as leaks)
leaks=1
[ "${DN_SANITIZED:-0}" = 1 ] && leaks=0
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=$leaks" refused "augmentation train in a run of one process" \
  "${mlp[@]}" --augment elastic:4,34 --distributed fedavg --clients 4 --rounds 1
refused "--out FILE.png is required" augment --data "$DATA"
refused "--count 0" augment --data "$DATA" --out g.png --count 0
refused "ALPHA 500 is out of range" augment --data "$DATA" --out g.png --augment elastic:4,500
[ ! -e g.png ] || fail "a refused augment command wrote g.png"

"$DIGITNET" mlp --help >help.txt
grep -q -- "--augment SPEC" help.txt && grep -q "elastic:SIGMA,ALPHA" help.txt &&
  grep -q "affine:ROT,SCALE,SHEAR,SHIFT" help.txt && grep -q "degrees, fraction, degrees, pixels" help.txt &&
  grep -q "(default none)" help.txt || fail "mlp --help does not describe --augment: $(grep -- --augment help.txt)"

# A short run learns, and says what it distorts.
run() { "$DIGITNET" mlp --data "$DATA" --train-size 2000 --hidden 64 --schedule none --threads 2 "$@"; }
run --epochs 3 --augment elastic:4,34 --augment affine:10,0.1,10,2 --save rep.st >out.txt
grep -q "^augmentation: elastic:4,34+affine:10,0.1,10,2$" out.txt || fail "no augmentation line: $(cat out.txt)"
acc=$(sed -n 's/^test accuracy: \([0-9.]*\)%.*/\1/p' out.txt)
echo "cli_augment: augmented, 2000 images, 3 epochs: test accuracy $acc%"
awk -v a="$acc" 'BEGIN { exit !(a > 70) }' || fail "augmented run: test accuracy $acc%, expected above 70%"
run --epochs 3 --augment elastic:4,34+affine:10,0.1,10,2 --save joined.st --quiet >/dev/null
cmp -s rep.st joined.st || fail "--augment A --augment B and --augment A+B gave different models"
run --epochs 3 --save none.st --quiet >/dev/null
cmp -s rep.st none.st && fail "guard: the augmented run gave the plain model"

# Resume: the distortions of epoch e are a function of (seed, e, image): nothing to keep but the settings.
aug=(--augment elastic:4,34+affine:10,0.1,10,2)
run --epochs 1 "${aug[@]}" --checkpoint stopped.ck --quiet >/dev/null
run --epochs 3 "${aug[@]}" --resume stopped.ck --save resumed.st --quiet >/dev/null
cmp -s rep.st resumed.st || fail "augmented: 1 epoch + resume to 3 differs from 3 straight epochs"
rc=0
run --epochs 3 --augment elastic:4,20+affine:10,0.1,10,2 --resume stopped.ck --quiet >/dev/null 2>err.txt || rc=$?
[ "$rc" = 3 ] && grep -q "augment_alpha 34, this one has 20" err.txt ||
  fail "a resume with another elastic alpha: exit $rc, $(cat err.txt)"
rc=0
run --epochs 3 --resume stopped.ck --quiet >/dev/null 2>err.txt || rc=$?
[ "$rc" = 3 ] && grep -q "augment_elastic 1, this one has 0" err.txt ||
  fail "a resume without augmentation: exit $rc, $(cat err.txt)"

# The grid.
if "$DIGITNET" --version | grep -qw png; then
  "$DIGITNET" augment --data "$DATA" --out grid.png --count 5 --variants 3 --scale 2 --seed 7 >out.txt ||
    fail "augment: exit $?"
  # K = 2, C = 4, N = 5: width 2 + 4 * 58 = 234, height 2 + 5 * 58 = 292
  size=$("$PY" -c 'import struct,sys; d=open("grid.png","rb").read(); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print(*struct.unpack(">II", d[16:24]))')
  [ "$size" = "234 292" ] || fail "augment: grid.png is $size, expected 234 292"
  "$DIGITNET" augment --data "$DATA" --out again.png --count 5 --variants 3 --scale 2 --seed 7 >/dev/null
  cmp -s grid.png again.png || fail "augment: the same seed drew another grid"
  "$DIGITNET" augment --data "$DATA" --out other.png --count 5 --variants 3 --scale 2 --seed 8 >/dev/null
  cmp -s grid.png other.png && fail "augment: another seed drew the same grid"
  "$DIGITNET" augment --data "$DATA" --out id.png --count 5 --variants 3 --scale 2 --augment affine:0,0,0,0 >/dev/null
  # with the identity every column is the original: the 4 cells of each row are equal
  "$PY" - <<'EOF' || fail "augment: with affine:0,0,0,0 the distortions differ from the originals"
import zlib, struct
d = open("id.png", "rb").read()
w, h, depth, ctype = struct.unpack(">IIBB", d[16:26])
raw, i = b"", 8
while i < len(d):
    n, = struct.unpack(">I", d[i:i + 4]); kind = d[i + 4:i + 8]
    if kind == b"IDAT": raw += d[i + 8:i + 8 + n]
    i += 12 + n
data = zlib.decompress(raw)
bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
stride = w * bpp
rows, prev = [], bytearray(stride)
for y in range(h):
    f = data[y * (stride + 1)]; line = bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line)); prev = line
K, cell = 2, 56
for r in range(5):
    y0 = K + r * (cell + K)
    cells = [b"".join(rows[y][(K + c * (cell + K)) * bpp:(K + c * (cell + K) + cell) * bpp] for y in range(y0, y0 + cell)) for c in range(4)]
    assert all(x == cells[0] for x in cells), r
    assert len(set(cells[0])) > 1  # not blank
EOF
  echo "cli_augment: augment wrote a 234 x 292 grid; same seed same grid; identity columns equal the originals"
else
  refused "libpng" augment --data "$DATA" --out grid.png
  echo "cli_augment: SKIP the grid: this digitnet was built without libpng (refused with one line)"
fi

[ "$failures" = 0 ] || { echo "cli_augment: $failures failure(s)"; exit 1; }
echo "cli_augment: all checks passed"
