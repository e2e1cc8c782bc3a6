#!/usr/bin/env bash
# make test: installs what the tests need, fetches MNIST, then builds and runs the whole
# suite twice, plain (Release) and under ASan + UBSan, and ends with one line of counts.
# usage: scripts/test.sh [all|plain|san]
# Environment: BUILD, BUILD_SAN (build folders), JOBS, CMAKE_ARGS, as the Makefile passes them.
set -uo pipefail
cd "$(dirname "$0")/.."
phase=${1:-all}
BUILD=${BUILD:-build} BUILD_SAN=${BUILD_SAN:-build-san} JOBS=${JOBS:-2} CMAKE_ARGS=${CMAKE_ARGS:-}
case $phase in all|plain|san) ;; *) echo "test.sh: unknown phase '$phase' (all, plain or san)" >&2; exit 2 ;; esac

scripts/deps.sh test || { echo "test.sh: could not install the test dependencies (above)" >&2; exit 1; }
# Without MNIST the tests that need it report skipped; the reason is printed above.
scripts/fetch_mnist.sh data/mnist || echo "test.sh: going on without MNIST: the tests that need it will be skipped"

passed=0 failed=0 skipped=0 summary=()
# suite NAME DIR CMAKE_FLAGS [CTEST_ARGS...]: configure, build, run; adds to the counts.
suite() {
  local name=$1 dir=$2 flags=$3; shift 3
  local log=$dir/ctest.log
  # shellcheck disable=SC2086 # CMAKE_ARGS and flags are lists of words
  if ! cmake -S . -B "$dir" -DDN_TESTS=ON $flags $CMAKE_ARGS >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"; echo "$name: the build could not be configured (above)"
    failed=$((failed + 1)); summary+=("$name: configure failed"); return
  fi
  if ! cmake --build "$dir" -j"$JOBS"; then
    failed=$((failed + 1)); summary+=("$name: build failed"); return
  fi
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@") | tee "$log"
  local total fail skip
  total=$(sed -n 's/.*tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\)$/\1/p' "$log" | tail -n 1)
  fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of [0-9]*$/\1/p' "$log" | tail -n 1)
  skip=$(grep -c '(Skipped)$' "$log")
  if [ -z "$total" ]; then
    failed=$((failed + 1)); summary+=("$name: ctest printed no summary"); return
  fi
  passed=$((passed + total - fail - skip)); failed=$((failed + fail)); skipped=$((skipped + skip))
  summary+=("$name: $((total - fail - skip)) passed, $fail failed, $skip skipped")
}
mkdir -p "$BUILD" "$BUILD_SAN"
if [ "$phase" != san ]; then
  suite plain "$BUILD" "-DCMAKE_BUILD_TYPE=Release"
fi
if [ "$phase" != plain ]; then
  # Any sanitizer report fails its test (halt_on_error); leaks count as errors. Not here:
  # the fresh-machine check (it runs the suite itself; once is enough) and valgrind
  # (memcheck cannot run ASan binaries).
  export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export DN_SANITIZED=1
  suite sanitizers "$BUILD_SAN" "-DCMAKE_BUILD_TYPE=Debug -DDN_SANITIZE=ON" -LE "fresh|valgrind"
fi
printf '%s\n' "${summary[@]}"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
