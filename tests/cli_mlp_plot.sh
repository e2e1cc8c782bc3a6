#!/usr/bin/env bash
# `digitnet mlp --plot DIR`: the curves are well-formed SVG with one line per series and one
# point per epoch; the first layer and the gallery are PNG files. Built without libpng
# (no "png" in --version) every figure set includes PNG files, so the run must be
# refused with one line, writing nothing; the figures are then skipped (exit 77).
set -euo pipefail
: "${DIGITNET:?}" "${DN_DATA:?}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
if ! "$DIGITNET" --version | grep -w png >/dev/null; then
  rc=0
  "$DIGITNET" mlp --data "$DN_DATA" --train-size 2000 --hidden 16 --epochs 3 --quiet --plot p >out.txt 2>err.txt || rc=$?
  want="digitnet was built without libpng; install libpng-dev and rebuild"
  if [ "$rc" -ne 2 ] || [ "$(cat err.txt)" != "$want" ] || [ -s out.txt ] || [ -e p ]; then
    echo "FAIL: mlp --plot without libpng: exit $rc (expected 2), stderr '$(cat err.txt)', stdout '$(cat out.txt)'$([ ! -e p ] || echo ', wrote p/')"
    exit 1
  fi
  echo "cli_mlp_plot: mlp --plot refused with one line; SKIP: the figures need libpng, this digitnet was built without it"
  exit 77
fi
"$DIGITNET" mlp --data "$DN_DATA" --train-size 2000 --hidden 16 --epochs 3 --quiet --plot p >/dev/null
/usr/bin/python3 - <<'PY'
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
for name, lines in (("p/curve.svg", 2), ("p/loss.svg", 1)):
    polylines = ET.parse(name).getroot().iter(ns + "polyline")
    counts = [len(p.get("points").split()) for p in polylines]
    assert counts == [3] * lines, f"{name}: points per line {counts}, expected {lines} lines of 3 (one per epoch)"
for name in ("p/weights_layer1.png", "p/misclassified.png"):
    assert open(name, "rb").read(8) == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
ET.parse("p/confusion.svg")
print("cli_mlp_plot: all checks passed")
PY
