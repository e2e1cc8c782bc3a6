# bench/lib.sh — sourced by bench/run.sh, bench/compare.sh and the bench pieces: the lines
# that say where and how a benchmark ran (machine, thread settings, the BLAS in use), and
# the ROW line every piece prints.

# bench_header: prints the machine, environment and BLAS lines to stdout.
bench_header() {
  local blas
  # Debian's python3 reads OpenBLAS's own description of itself.
  blas=$(/usr/bin/python3 - <<'PY' 2>/dev/null || echo "unknown"
import ctypes, ctypes.util
lib = ctypes.CDLL("libopenblas.so.0")
lib.openblas_get_config.restype = ctypes.c_char_p
lib.openblas_get_corename.restype = ctypes.c_char_p
print(lib.openblas_get_config().decode(), "| kernel", lib.openblas_get_corename().decode())
PY
  )
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
  echo "BLAS: $blas"
}

# bench_row WORKLOAD IMPLEMENTATION NOTE < seconds, one per line: the piece's
# "ROW\tworkload\timplementation\tmedian_s\tmin_s\tmax_s\tnote" line (bench/run.sh collects them).
bench_row() {
  /usr/bin/python3 -c '
import statistics, sys
v = [float(x) for x in sys.stdin.read().split()]
if len(v) == 0: sys.exit("bench: no timings for %s, %s" % (sys.argv[1], sys.argv[2]))
print("ROW\t%s\t%s\t%.4f\t%.4f\t%.4f\t%s" % (sys.argv[1], sys.argv[2], statistics.median(v), min(v), max(v), sys.argv[3]))
' "$1" "$2" "$3"
}
