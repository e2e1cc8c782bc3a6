#!/usr/bin/env bash
# fuzz/run.sh — build the libFuzzer targets and run each for FUZZ_SECONDS.
#
# usage: fuzz/run.sh [TARGET...]          (default: every fuzz/fuzz_*.c)
#        FUZZ_SECONDS=1800 fuzz/run.sh idx model
#        fuzz/run.sh --build-only
#
# Targets are built by clang with -fsanitize=fuzzer,address,undefined in
# build-fuzz/ (the library's sources compiled again with the same
# instrumentation, OpenMP off: one thread keeps runs reproducible). Seeds come
# from scripts/make_fuzz_corpus.py into fuzz/corpus/seed/<target>; what the
# fuzzer finds grows fuzz/corpus/<target>. A crash is saved in fuzz/crashes/
# (replay it with: build-fuzz/fuzz_<target> FILE); the log and a one-line
# summary with the exec count go to fuzz/results/. Exits 1 when any target
# crashed. Environment: FUZZ_SECONDS (default 60), FUZZ_RSS_MB (2048),
# CC (clang), FUZZ_NICE (19: the fuzzers yield to everything else),
# FUZZ_FORK=1 for long runs: libFuzzer's fork mode, which saves a crash and
# goes on fuzzing instead of stopping at the first one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-60}
rss_mb=${FUZZ_RSS_MB:-2048}
cc=${CC:-clang}
build=build-fuzz
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (scripts/deps.sh fuzz installs clang)" >&2; exit 2; }

build_only=0
targets=()
for arg in "$@"; do
  case $arg in
    --build-only) build_only=1 ;;
    *) targets+=("$arg") ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi

# Per target: the largest input worth trying (a (10, 784) float64 model with
# its average is ~126 KB; IDX, npy and PNG files stay small) and an allocation
# cap far below the RSS limit, so an allocation a small input cannot justify
# is reported as a finding instead of passing quietly.
max_len() { case $1 in model) echo 140000 ;; png) echo 32768 ;; *) echo 16384 ;; esac; }
malloc_mb() { case $1 in model) echo 512 ;; *) echo 256 ;; esac; }

flags=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-psabi
       -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DDN_HAVE_PNG=1 -Iinclude
       -Isrc/core -Isrc/data -Isrc/pta -Isrc/mlp -Isrc/train -Isrc/dist -Isrc/plot
       $(pkg-config --cflags openblas libpng zlib))
libs=($(pkg-config --libs openblas libpng zlib) -lm)

# The library (every module but the stand-in for builds without libpng), instrumented
# for coverage (fuzzer-no-link), into one archive:
# each target links only the objects it uses.
mkdir -p "$build/obj" fuzz/crashes fuzz/results
objs=()
for src in src/*/*.c; do
  [ "$src" = src/plot/plot_png_absent.c ] && continue
  obj="$build/obj/$(basename "${src%.c}").o"
  if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src include -name '*.h' -newer "$obj" | head -1)" ]; then
    "$cc" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
rm -f "$build/libdigitnet_fuzz.a"
ar rcs "$build/libdigitnet_fuzz.a" "${objs[@]}"
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz: no target fuzz/fuzz_$t.c" >&2; exit 2; }
  "$cc" "${flags[@]}" -fsanitize=fuzzer "fuzz/fuzz_$t.c" "$build/libdigitnet_fuzz.a" "${libs[@]}" -o "$build/fuzz_$t"
done
echo "fuzz: built ${targets[*]} in $build/"
[ $build_only -eq 1 ] && exit 0

# (again when a target's seeds are missing: a target added since they were made)
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/seed/$t" ] || { /usr/bin/python3 scripts/make_fuzz_corpus.py fuzz/corpus/seed >/dev/null; break; }
done

# Input folders of fuzzer processes that died (crash, kill) and left them.
sweep() {
  local d
  for d in /dev/shm/dn_fuzz_* /tmp/dn_fuzz_*; do
    [ -d "$d" ] && [ ! -d "/proc/${d##*_}" ] && rm -rf "$d"
  done
  return 0
}

status=0
for t in "${targets[@]}"; do
  sweep
  mkdir -p "fuzz/corpus/$t"
  log="fuzz/results/$t.log"
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz: $t for ${seconds}s (log: $log)"
  fork=(); [ "${FUZZ_FORK:-0}" = 1 ] && fork=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  # Findings: crash-, oom-, timeout-, leak- files (slow-unit- ones only mean a loaded machine).
  found() { ls fuzz/crashes | grep -cE "^$t-(crash|oom|timeout|leak)-" || true; }
  crashes_before=$(found)
  set +e
  nice -n "${FUZZ_NICE:-19}" "$build/fuzz_$t" "fuzz/corpus/$t" "fuzz/corpus/seed/$t" "${dict[@]}" "${fork[@]}" \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb="$rss_mb" \
    -malloc_limit_mb="$(malloc_mb "$t")" -timeout=10 -report_slow_units=60 -print_final_stats=1 \
    -artifact_prefix="fuzz/crashes/$t-" >"$log" 2>&1
  rc=$?
  set -e
  # The exec count: libFuzzer's final stats line, else the last progress line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  crashes=$(( $(found) - crashes_before ))
  verdict=ok
  if [ $rc -ne 0 ] || [ $crashes -gt 0 ]; then
    verdict="FOUND $crashes new input(s) in fuzz/crashes/ (rc $rc, see $log)"
    status=1
  fi
  line="$(date -u +%FT%TZ) $t seconds=$seconds execs=${execs:-0} corpus=$(ls "fuzz/corpus/$t" | wc -l) $verdict"
  echo "fuzz: $line"
  echo "$line" >>fuzz/results/summary.txt
done
sweep
exit $status
