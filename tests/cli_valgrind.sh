#!/usr/bin/env bash
# cli_valgrind.sh — the CLI end to end under Valgrind's memcheck:
# train with checkpoints, metrics, the averaged W and --save, resume, eval,
# and two refusals (a corrupt model, a bad flag), on a small subset of
# DN_DATA. Zero errors and zero definite or indirect leaks, or the test fails
# (libgomp and OpenBLAS keep thread pools "still reachable" or "possibly
# lost" at exit: those are theirs and not counted).
#
# Valgrind cannot run AVX-512 code, which -march=native (DN_NATIVE) emits on
# machines that have it; there the test builds a portable copy of the CLI
# (DN_NATIVE=OFF, Debug) in $DN_BUILD_DIR/valgrind-cli first — incremental
# after the first time. Skipped under the sanitizer build (DN_SANITIZED=1:
# ASan and memcheck cannot share a process) and where valgrind is missing.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
[ "${DN_SANITIZED:-0}" != 1 ] || { echo "SKIP: sanitizer build (memcheck cannot run ASan binaries)"; exit 77; }
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed (scripts/deps.sh test)"; exit 77; }
[ -e "$DATA/train-labels-idx1-ubyte" ] || [ -e "$DATA/train-labels-idx1-ubyte.gz" ] ||
  { echo "SKIP: no MNIST in $DATA (scripts/fetch_mnist.sh)"; exit 77; }
DATA=$(cd "$DATA" && pwd) DIGITNET=$(realpath "$DIGITNET")

build=${DN_BUILD_DIR:-$(dirname "$DIGITNET")}
native=$(sed -n 's/^DN_NATIVE:BOOL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if grep -qw avx512f /proc/cpuinfo && [ "$native" != OFF ]; then
  vg="$build/valgrind-cli"
  echo "building a portable copy of the CLI for valgrind in $vg"
  cmake -S "$SRC" -B "$vg" -DCMAKE_BUILD_TYPE=Debug -DDN_NATIVE=OFF -DDN_WITH_MPI=OFF -DDN_SANITIZE=OFF \
    >"$build/valgrind-cli.log" 2>&1 &&
    cmake --build "$vg" --target digitnet_cli -j2 >>"$build/valgrind-cli.log" 2>&1 ||
    { echo "FAIL: building the portable CLI (see $build/valgrind-cli.log)"; exit 1; }
  DIGITNET="$vg/digitnet"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_vg_XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$PY" "$SRC/tests/lib/mnist_subset.py" "$DATA" sub 300 100
failures=0

# vg EXPECTED_EXIT ARGS...: one CLI run under memcheck; 99 means memcheck found something.
vg() {
  local want=$1 rc=0
  shift
  valgrind -q --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --track-origins=yes --log-file=vg.log "$DIGITNET" "$@" >out.txt 2>err.txt ||
    rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL: digitnet $* exited $rc under valgrind (expected $want)"
    cat vg.log err.txt
    failures=$((failures + 1))
  else
    echo "clean: digitnet $*"
  fi
}

vg 0 pta --data sub --train-size 300 --max-epochs 3 --average --checkpoint ck --metrics m.csv --save m.st --quiet
vg 0 pta --data sub --train-size 300 --max-epochs 4 --average --checkpoint ck --resume ck --save m2.st --quiet
vg 0 eval m.st --data sub
cp m.st bad.st && printf 'X' | dd of=bad.st bs=1 seek=1000 conv=notrunc status=none
vg 3 eval bad.st --data sub
vg 2 pta --data sub --eta nan

[ $failures -eq 0 ] || { echo "cli_valgrind: $failures run(s) with memcheck errors or leaks"; exit 1; }
echo "cli_valgrind: zero errors, zero definite or indirect leaks"
