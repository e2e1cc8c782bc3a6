# workdir.sh — sourced by CLI tests that write files: a scratch folder,
# removed on exit together with any tmpfs a test mounted in it (it appends
# the mount point to `mounts`), a failure counter, and a small MNIST subset
# with a twin that differs in one pixel (for "other data" refusals).
# Expects SRC (the source tree) and PY (Debian's python3) to be set.

# dn_workdir NAME: a fresh folder under $TMPDIR, made the current one.
dn_workdir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/dn_$1_XXXXXX")
  mounts=()
  trap dn_workdir_cleanup EXIT
  cd "$work"
}

dn_workdir_cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  rm -rf "$work"
}

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# dn_subset_twins DATA TRAIN TEST: sub/ holds the first TRAIN and TEST
# samples of DATA; other/ the same but for one pixel of the first image.
dn_subset_twins() {
  "$PY" "$SRC/tests/lib/mnist_subset.py" "$1" sub "$2" "$3"
  cp -r sub other
  "$PY" -c 'f = open("other/train-images-idx3-ubyte", "r+b"); f.seek(16 + 300); b = f.read(1); f.seek(16 + 300); f.write(bytes([b[0] ^ 1]))'
}
