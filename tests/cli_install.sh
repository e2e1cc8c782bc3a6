#!/usr/bin/env bash
# cli_install.sh — the library as an embedder gets it: `cmake --install` into a
# scratch prefix, then every program of examples/ built against the installed
# copy alone, twice — with `pkg-config --cflags --libs` and with a small CMake
# project using find_package(digitnet) (shared and static targets) — and run on
# MNIST (small sizes). The installed shared libraries must export dn_ symbols
# only. Skipped (77) without a C compiler, cmake or pkg-config, and the runs
# when DN_DATA has no MNIST.
set -euo pipefail
SRC=${DN_SOURCE_DIR:?set DN_SOURCE_DIR to the source tree}
BUILD=${DN_BUILD_DIR:?set DN_BUILD_DIR to the build folder}
DATA=${DN_DATA:-$SRC/data/mnist}
PY=/usr/bin/python3
for tool in cc cmake pkg-config nm; do
  command -v $tool >/dev/null || { echo "cli_install: $tool not found, skipped"; exit 77; }
done
source "$SRC/tests/lib/workdir.sh"
dn_workdir cli_install
prefix=$work/prefix

cmake --install "$BUILD" --prefix "$prefix" >install.log 2>&1 || { cat install.log; echo "FAIL: cmake --install"; exit 1; }
lib=$(dirname "$(find "$prefix" -name libdigitnet.so | head -n 1)")
[ -n "$lib" ] && [ -d "$lib" ] || { echo "FAIL: no libdigitnet.so installed"; exit 1; }
for f in include/digitnet.h bin/digitnet; do [ -e "$prefix/$f" ] || fail "$f not installed"; done
# The man page and the bash completion, where man and bash-completion look for them.
page=$(find "$prefix" -path '*/man1/digitnet.1')
[ -n "$page" ] && [ "$page" = "$prefix/share/man/man1/digitnet.1" ] || fail "digitnet.1 not in share/man/man1: '$page'"
if [ -n "$page" ] && command -v man >/dev/null; then
  MANWIDTH=80 man -P cat -l "$page" >man.txt 2>&1 || fail "man -l $page failed: $(head -3 man.txt)"
  grep -q 'digitnet import' man.txt || fail "the installed man page does not list digitnet import"
fi
completion=$prefix/share/bash-completion/completions/digitnet
[ -s "$completion" ] && grep -q '^complete .* _digitnet digitnet$' "$completion" ||
  fail "no bash completion in share/bash-completion/completions/digitnet"
for f in libdigitnet.a libdigitnet.so.0 pkgconfig/digitnet.pc cmake/digitnet/digitnetConfig.cmake; do
  [ -e "$lib/$f" ] || fail "$lib/$f not installed"
done
# The optional libraries come with their features.
have_plot=0 have_dist=0
[ -e "$lib/libdigitnet_plot.so" ] && have_plot=1
[ -e "$lib/libdigitnet_dist.so" ] && have_dist=1

# Each library comes with its header, and exports exactly the functions that
# header declares: digitnet.h (libdigitnet), digitnet_dist.h (libdigitnet_dist),
# digitnet_plot.h (libdigitnet_plot).
[ $have_dist = 1 ] && { [ -e "$prefix/include/digitnet_dist.h" ] || fail "digitnet_dist.h not installed"; }
[ $have_plot = 1 ] && { [ -e "$prefix/include/digitnet_plot.h" ] || fail "digitnet_plot.h not installed"; }
decl='^(DN_API )?[a-z][a-z_0-9 *]*[ *]dn_[a-z0-9_]+\('
for so in "$lib"/libdigitnet*.so; do
  name=$(basename "$so" .so)
  header=$prefix/include/${name/lib/}.h
  [ "$(readelf -d "$so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = "$(basename "$so").0" ] ||
    fail "$so: SONAME is not $(basename "$so").0"
  # (Into files, not `| grep -q`: an early grep exit would fail the pipeline under pipefail.)
  nm -D --defined-only "$so" | awk '{print $3}' | sort -u >"$name.exported"
  grep -E "$decl" "$header" >"$name.declared" || true
  grep -v '^DN_API ' "$name.declared" >unmarked.txt || true
  # A declaration without DN_API would build, hidden, and fail only in a program linking the shared library.
  [ ! -s unmarked.txt ] || fail "$(basename "$header") declares functions without DN_API: $(head -c 300 unmarked.txt)"
  grep -oE 'dn_[a-z0-9_]+\($' <(grep -oE "$decl" "$name.declared") | tr -d '(' | sort -u >"$name.names"
  missing=$(comm -23 "$name.names" "$name.exported")
  [ -z "$missing" ] || fail "declared in $(basename "$header") but not exported by $name.so: $(echo $missing | head -c 300)"
  extra=$(comm -13 "$name.names" "$name.exported")
  [ -z "$extra" ] || fail "$name.so exports what $(basename "$header") does not declare: $(echo $extra | head -c 300)"
done
grep -qx 'dn_version' libdigitnet.exported || fail "libdigitnet.so lacks dn_version"
# A program that only trains needs neither MPI nor libpng.
readelf -d "$lib/libdigitnet.so" >needed.txt
grep -q 'NEEDED.*\(libmpi\|libpng\)' needed.txt && fail "libdigitnet.so needs MPI or libpng"

# A sanitizer build installs instrumented libraries: programs linking them need the runtime.
flags=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
grep -q '^DN_SANITIZE:BOOL=ON$' "$BUILD/CMakeCache.txt" && flags+=(-fsanitize=address,undefined)
examples=(train_mlp pta_curve)
[ $have_plot = 1 ] && examples+=(classify_png)
[ $have_plot = 1 ] && [ $have_dist = 1 ] && examples+=(mlp_job)

# 1. pkg-config, the shared libraries found through an rpath.
export PKG_CONFIG_PATH=$lib/pkgconfig
mkdir -p pc
for e in "${examples[@]}"; do
  modules=digitnet
  [ "$e" = classify_png ] && modules="digitnet_plot digitnet"
  [ "$e" = mlp_job ] && modules="digitnet_dist digitnet_plot digitnet"
  # shellcheck disable=SC2046 # pkg-config prints a list of words
  cc "${flags[@]}" "$SRC/examples/$e.c" $(pkg-config --cflags --libs $modules) -Wl,-rpath,"$lib" -o "pc/$e" ||
    fail "$e: does not build with pkg-config"
done
[ $have_dist = 1 ] && { pkg-config --exists digitnet_dist || fail "digitnet_dist.pc unusable"; }
[[ " $(pkg-config --static --libs digitnet) " == *' -lz '* ]] || fail "digitnet.pc: static linking lacks zlib"

# 2. find_package(digitnet): shared targets, and pta_curve once more on the static library.
mkdir -p cm
cat >cm/CMakeLists.txt <<CMAKE
cmake_minimum_required(VERSION 3.18)
project(digitnet_examples C)
find_package(digitnet 0.1 REQUIRED)
foreach(e train_mlp pta_curve)
  add_executable(\${e} $SRC/examples/\${e}.c)
  target_link_libraries(\${e} PRIVATE digitnet::digitnet)
endforeach()
add_executable(pta_curve_static $SRC/examples/pta_curve.c)
target_link_libraries(pta_curve_static PRIVATE digitnet::digitnet_static)
if(TARGET digitnet::plot)
  add_executable(classify_png $SRC/examples/classify_png.c)
  target_link_libraries(classify_png PRIVATE digitnet::plot)
endif()
if($have_dist AND NOT TARGET digitnet::dist)
  message(FATAL_ERROR "digitnet::dist missing")
endif()
if(TARGET digitnet::dist AND TARGET digitnet::plot)
  add_executable(mlp_job $SRC/examples/mlp_job.c)
  target_link_libraries(mlp_job PRIVATE digitnet::dist digitnet::plot)
endif()
CMAKE
if ! cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="${flags[*]}" >cm.log 2>&1 ||
  ! cmake --build cm/build >>cm.log 2>&1; then
  cat cm.log
  fail "the examples do not build with find_package(digitnet)"
fi
[ $failures -eq 0 ] || { echo "cli_install: $failures failure(s)"; exit 1; }

if [ ! -e "$DATA/train-images-idx3-ubyte" ] && [ ! -e "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "cli_install: installed and built; no MNIST in $DATA, so the examples were not run: skipped"
  exit 77
fi

# 3. The examples on MNIST, each build. A PNG of the first test image (a 7) for classify_png.
"$PY" - "$DATA" <<'PYTHON'
import gzip, os, struct, sys, zlib
def read(name):
    path = os.path.join(sys.argv[1], name)
    return open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
pixels = read("t10k-images-idx3-ubyte")[16:16 + 784]
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + pixels[r * 28:(r + 1) * 28] for r in range(28))
open("seven.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                               + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PYTHON
for dir in pc cm/build; do
  "$dir/train_mlp" "$DATA" "$dir/model.st" 2000 1 >"$dir/train.txt" 2>&1 || fail "$dir/train_mlp: $(cat "$dir/train.txt")"
  grep -q '^epoch  1/1 ' "$dir/train.txt" || fail "$dir/train_mlp: no epoch line"
  [ -s "$dir/model.st" ] || fail "$dir/train_mlp wrote no model"
  "$dir/pta_curve" "$DATA" 1000 >"$dir/curve.txt" 2>&1 || fail "$dir/pta_curve: $(cat "$dir/curve.txt")"
  grep -q '^converged after [0-9]* epochs$' "$dir/curve.txt" || fail "$dir/pta_curve did not converge"
  if [ -x "$dir/classify_png" ]; then
    "$dir/classify_png" "$dir/model.st" seven.png >"$dir/classify.txt" 2>&1 || fail "$dir/classify_png: $(cat "$dir/classify.txt")"
    grep -q '^seven.png: 7 ' "$dir/classify.txt" || fail "$dir/classify_png: $(cat "$dir/classify.txt")"
  fi
done
# 4. mlp_job: a job of two processes stopped after one epoch and started again
# ends with the checkpoint of a job that ran its two epochs at once.
if [ -x pc/mlp_job ] && command -v mpirun >/dev/null; then
  source "$SRC/tests/lib/mpi_env.sh"
  dn_mpi_one_thread
  job() { timeout 300 mpirun -np 2 "$@" >>job.txt 2>&1 || fail "mpirun -np 2 $*: $(tail -5 job.txt)"; }
  job pc/mlp_job "$DATA" whole.ckpt whole.svg 1000 2
  job cm/build/mlp_job "$DATA" parts.ckpt first.svg 1000 2 1
  grep -q '^1 of 2 epochs done' job.txt || fail "mlp_job did not stop after epoch 1: $(tail -3 job.txt)"
  job pc/mlp_job "$DATA" parts.ckpt second.svg 1000 2
  cmp -s whole.ckpt parts.ckpt || fail "mlp_job: stopped and resumed, the checkpoint differs from an uninterrupted job's"
  grep -q '<polyline' second.svg || fail "mlp_job drew no loss line"
fi
cm/build/pta_curve_static "$DATA" 1000 >static_curve.txt 2>&1 || fail "pta_curve_static: $(cat static_curve.txt)"
# The perceptron's curve does not depend on threads or on how the library was linked.
cmp -s pc/curve.txt cm/build/curve.txt || fail "pta_curve: the pkg-config and CMake builds print different curves"
cmp -s pc/curve.txt static_curve.txt || fail "pta_curve: the static build prints a different curve"
[ $failures -eq 0 ] || { echo "cli_install: $failures failure(s)"; exit 1; }
echo "cli_install: installed, examples built with pkg-config and find_package, run on MNIST: ok"
