#!/usr/bin/env bash
# make test: installs what the tests need, fetches MNIST, then builds and runs the whole
# suite twice, plain (Release) and under ASan + UBSan, while the fresh-machine check (the
# README's two commands in a new Debian root filesystem) runs beside them; on a committed
# tree the plain suite is the one the fresh root runs (see below). It ends with one line
# of counts: "total: N passed, N failed, N skipped".
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

# --- where the plain suite runs ------------------------------------------------------------------
# The fresh-machine check runs the README's `make test` in a new Debian root, which there is
# the plain suite on the committed tree. When that tree is what is here (nothing changed,
# nothing untracked), the same suite on the host would test the same commit a second time:
# then it runs in the fresh root alone and its counts are this run's plain counts. With
# changes in the tree, or where the check cannot run, the host runs it as well.
inside=${DN_FRESH_INSIDE:-0}
tree_committed() { git rev-parse --verify -q HEAD >/dev/null 2>&1 && [ -z "$(git status --porcelain 2>/dev/null)" ]; }
plain_where=host
if [ "$phase" = all ] && [ "$inside" != 1 ]; then
  if ! tree_committed; then
    echo "test.sh: the tree has changes the fresh-machine check does not see: the plain suite runs here as well"
  elif scripts/fresh_machine_check.sh --check >/dev/null 2>&1; then
    plain_where=fresh
  fi
fi
# Inside the fresh-machine check (DN_FRESH_INSIDE=1) the suite runs once, plain: what the
# check asks of a new machine is that the README's command installs, builds and passes
# there; the sanitizer run repeats the same tests on the host's build beside it, and its
# libraries (libasan, libubsan) come with gcc, which the plain build needs anyway.
if [ "$phase" = all ] && [ "$inside" = 1 ]; then
  echo "test.sh: inside the fresh-machine check: the sanitizer run is left to the host's suite"
  phase=plain
fi

# plain_on_host: builds and runs the plain suite here.
plain_on_host() { build plain "$BUILD" && run plain "$BUILD" -LE fresh; }
# fresh_plain_counts: the plain counts the fresh root's `make test` printed ("N N N"), if any.
fresh_plain_counts() {
  sed -n 's/^[0-9]*: *plain: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' \
    "$BUILD/ctest-fresh.log" | tail -n 1
}

fresh_pid=
plain_configured=0
configure plain "$BUILD" "-DCMAKE_BUILD_TYPE=Release" && plain_configured=1
if [ $plain_configured = 1 ] && [ "$phase" = all ]; then
  # Several minutes, much of it waiting on apt and dpkg: it starts first and runs beside
  # the builds and the suites (it needs only the committed tree, not this build).
  # -V: the check's own lines (each command's exit status and time) are worth reading on success too.
  (cd "$BUILD" && ctest -V -L fresh) >"$BUILD/ctest-fresh.log" 2>&1 &
  fresh_pid=$!
  echo "fresh-machine check started beside the suites (output at the end; log: $BUILD/ctest-fresh.log)"
  [ $plain_where = fresh ] &&
    echo "test.sh: the tree is committed: the plain suite runs in the fresh root (its counts come at the end)"
fi
if [ "$phase" != san ] && [ $plain_configured = 1 ] && [ $plain_where = host ]; then
  plain_on_host
fi
if [ "$phase" != plain ]; then
  # Any sanitizer report fails its test (halt_on_error); leaks count as errors. Not here:
  # the fresh-machine check (once is enough), valgrind (it cannot run ASan binaries) and
  # the browser test (chromium is not instrumented; the server it drives is, in the API,
  # bad-request, live and load tests).
  if configure sanitizers "$BUILD_SAN" "-DCMAKE_BUILD_TYPE=Debug -DDN_SANITIZE=ON" && build sanitizers "$BUILD_SAN"; then
    (export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 DN_SANITIZED=1
      cd "$BUILD_SAN" && ctest --output-on-failure -j"$JOBS" -LE "fresh|valgrind|browser") |
      tee "$BUILD_SAN/ctest-sanitizers.log"
    count sanitizers "$BUILD_SAN/ctest-sanitizers.log"
  fi
fi
if [ -n "$fresh_pid" ]; then
  wait "$fresh_pid"
  sed -n 's/^[0-9]*: \(fresh_machine: .*\)$/\1/p; s/^[0-9]*: \(    .*\)$/\1/p' "$BUILD/ctest-fresh.log"
  grep -E 'tests passed|Test +#' "$BUILD/ctest-fresh.log"
  # Its own lines only: those of the make test inside it (prefixed "N: " by ctest -V) have their own counts below.
  grep -v '^[0-9]*: ' "$BUILD/ctest-fresh.log" >"$BUILD/ctest-fresh-outer.log"
  count fresh "$BUILD/ctest-fresh-outer.log"
  if [ $plain_where = fresh ]; then
    read -r p f k <<<"$(fresh_plain_counts)"
    if [ -n "${k:-}" ]; then
      passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
      summary+=("plain, in the fresh root: $p passed, $f failed, $k skipped (its log: /var/cache/digitnet-fresh/make-test.log)")
    else
      echo "test.sh: the fresh root ran no plain suite (above): running it here"
      plain_on_host
    fi
  fi
fi
printf '%s\n' "${summary[@]}"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
