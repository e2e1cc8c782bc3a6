# bench/lib.sh — sourced by bench/run.sh, bench/compare.sh and the bench pieces: the lines
# that say where and how a benchmark ran (machine, thread settings, the BLAS in use), and
# the ROW line every piece prints.

# The BLAS kernels every implementation runs under, the same for all of them. OpenBLAS picks
# its kernels for the processor it finds unless OPENBLAS_CORETYPE names others; a host may
# set that variable for its own reasons (this project's machines force Haswell, AVX2, on an
# AMD EPYC with AVX-512, where OpenBLAS itself picks Cooperlake: the epoch's products alone
# then take about half the time). The benchmark measures what this processor can do, as a
# Debian machine without the variable runs: BENCH_OPENBLAS_CORETYPE=auto (the default) sets
# the variable aside, =host keeps the host's, any other value is passed on as the core.
# bench_mlp.sh still runs the headline MLP epoch under the host's setting beside it.
if [ -z "${BENCH_BLAS_SET:-}" ]; then
  export BENCH_HOST_CORETYPE=${OPENBLAS_CORETYPE:-} BENCH_BLAS_SET=1
  case ${BENCH_OPENBLAS_CORETYPE:-auto} in
    auto) unset OPENBLAS_CORETYPE ;;
    host) ;;
    *) export OPENBLAS_CORETYPE=$BENCH_OPENBLAS_CORETYPE ;;
  esac
fi

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
  echo "environment: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} (the host's: ${BENCH_HOST_CORETYPE:-unset}; BENCH_OPENBLAS_CORETYPE=${BENCH_OPENBLAS_CORETYPE:-auto}) OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
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
