#!/usr/bin/env bash
# make test: installs what the tests need, fetches MNIST, then builds and runs the whole
# suite twice, plain (Release) and under ASan + UBSan, while the fresh-machine check (the
# README's two commands in a new Debian root filesystem) runs beside them; it ends with
# one line of counts: "total: N passed, N failed, N skipped".
# usage: scripts/test.sh [all|plain|san]   (plain and san leave the fresh-machine check out)
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
# configure NAME DIR CMAKE_FLAGS: configures with the tests on; 1 on failure.
configure() {
  local name=$1 dir=$2 flags=$3
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # CMAKE_ARGS and flags are lists of words
  cmake -S . -B "$dir" -DDN_TESTS=ON $flags $CMAKE_ARGS >"$dir/configure.log" 2>&1 && return 0
  cat "$dir/configure.log"; echo "$name: the build could not be configured (above)"
  failed=$((failed + 1)); summary+=("$name: the build could not be configured"); return 1
}
# build NAME DIR: builds a configured folder; 1 on failure.
build() {
  cmake --build "$2" -j"$JOBS" && return 0
  failed=$((failed + 1)); summary+=("$1: the build failed"); return 1
}
# count NAME LOG: adds the counts of one ctest run, read from its output.
count() {
  local name=$1 log=$2 total fail skip
  total=$(sed -n 's/.*tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\)$/\1/p' "$log" | tail -n 1)
  fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of [0-9]*$/\1/p' "$log" | tail -n 1)
  skip=$(grep -c '(Skipped)$' "$log")
  if [ -z "$total" ]; then
    failed=$((failed + 1)); summary+=("$name: ctest printed no summary (see $log)"); return
  fi
  passed=$((passed + total - fail - skip)); failed=$((failed + fail)); skipped=$((skipped + skip))
  summary+=("$name: $((total - fail - skip)) passed, $fail failed, $skip skipped")
}
# run NAME DIR CTEST_ARGS...: one ctest run, shown as it goes and counted.
run() {
  local name=$1 dir=$2; shift 2
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@") | tee "$dir/ctest-$name.log"
  count "$name" "$dir/ctest-$name.log"
}

plain_ok=0
fresh_pid=
if configure plain "$BUILD" "-DCMAKE_BUILD_TYPE=Release"; then
  if [ "$phase" = all ]; then
    # Several minutes, much of it waiting on apt and dpkg: it starts first and runs beside
    # the builds and the two suites (it needs only the committed tree, not this build).
    # -V: the check's own lines (each command's exit status and time) are worth reading on success too.
    (cd "$BUILD" && ctest -V -L fresh) >"$BUILD/ctest-fresh.log" 2>&1 &
    fresh_pid=$!
    echo "fresh-machine check started beside the suites (output at the end; log: $BUILD/ctest-fresh.log)"
  fi
  build plain "$BUILD" && plain_ok=1
fi
# Inside the fresh-machine check (DN_FRESH_INSIDE=1) the suite runs once, plain: what the
# check asks of a new machine is that the README's command installs, builds and passes
# there; the sanitizer run repeats the same tests on the host's build beside it, and its
# libraries (libasan, libubsan) come with gcc, which the plain build needs anyway.
if [ "$phase" = all ] && [ "${DN_FRESH_INSIDE:-0}" = 1 ]; then
  echo "test.sh: inside the fresh-machine check: the sanitizer run is left to the host's suite"
  phase=plain
fi
# The sanitizer build is compiled while the plain suite runs (much of which waits on
# processes starting, MPI and timeouts, not on the cores), its output kept for the end.
san_build_pid=
if [ "$phase" = all ] && [ $plain_ok = 1 ]; then
  (configure sanitizers "$BUILD_SAN" "-DCMAKE_BUILD_TYPE=Debug -DDN_SANITIZE=ON" >"$BUILD/san-build.log" 2>&1 &&
    build sanitizers "$BUILD_SAN" >>"$BUILD/san-build.log" 2>&1) &
  san_build_pid=$!
fi
if [ "$phase" != san ] && [ $plain_ok = 1 ]; then
  run plain "$BUILD" -LE fresh
fi
if [ "$phase" != plain ]; then
  # Any sanitizer report fails its test (halt_on_error); leaks count as errors. Not here:
  # the fresh-machine check (once is enough), valgrind (it cannot run ASan binaries) and
  # the browser test (chromium is not instrumented; the server it drives is, in the API,
  # bad-request, live and load tests).
  export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export DN_SANITIZED=1
  san_built=0
  if [ -n "$san_build_pid" ]; then
    if wait "$san_build_pid"; then san_built=1; else
      cat "$BUILD/san-build.log"; failed=$((failed + 1)); summary+=("sanitizers: the build failed (above)"); fi
  else
    configure sanitizers "$BUILD_SAN" "-DCMAKE_BUILD_TYPE=Debug -DDN_SANITIZE=ON" && build sanitizers "$BUILD_SAN" &&
      san_built=1
  fi
  [ $san_built = 0 ] || run sanitizers "$BUILD_SAN" -LE "fresh|valgrind|browser"
fi
if [ -n "$fresh_pid" ]; then
  wait "$fresh_pid"
  sed -n 's/^[0-9]*: \(fresh_machine: .*\)$/\1/p; s/^[0-9]*: \(    .*\)$/\1/p' "$BUILD/ctest-fresh.log"
  grep -E 'tests passed|Test +#' "$BUILD/ctest-fresh.log"
  count fresh "$BUILD/ctest-fresh.log"
fi
printf '%s\n' "${summary[@]}"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
