#!/usr/bin/env bash
# cli_plot.sh — `digitnet plot`, `pta --plot`, `eval --plot`, the report of
# `reproduce`, and progress output, end to end. SVG files are parsed as XML
# (Python's xml.etree, Debian's /usr/bin/python3: the python3 on PATH may be
# another interpreter) and their series and points counted; PNG headers are
# read for their size. Parts that need MNIST are skipped when DN_DATA has
# no data. Built without libpng (no "png" in --version) the figures of
# --plot and reproduce cannot be made: those commands must be refused with
# one line, and the parts that check the figures count as skipped (exit 77
# after everything else passed).
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "cli_plot: $PY is missing (scripts/deps.sh test installs it)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_plot_XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0 skipped_parts=0
have_png=0
"$DIGITNET" --version | grep -w png >/dev/null && have_png=1
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# svg_check FILE SERIES POINTS...: well-formed XML, SERIES <g class="series"> groups whose polylines
# hold the given numbers of points, a legend entry per series when there are several.
svg_check() {
  "$PY" - "$@" <<'EOF' || fail "svg_check $*"
import sys, xml.etree.ElementTree as ET
path, nseries, points = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(path).getroot()              # raises on anything not well-formed
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
groups = root.findall("s:g[@class='series']", ns)
assert len(groups) == nseries, f"{path}: {len(groups)} series, expected {nseries}"
for g, want in zip(groups, points):
    lines = g.findall("s:polyline", ns)
    assert len(lines) == 1, f"{path}: {len(lines)} polylines in a series"
    pts = lines[0].get("points").split()
    assert len(pts) == want, f"{path}: series '{g.get('data-label')}' has {len(pts)} points, expected {want}"
    for p in pts:
        x, y = map(float, p.split(","))
        assert 0 <= x <= float(root.get("width")) and 0 <= y <= float(root.get("height")), p
legend = root.findall("s:g[@class='legend']", ns)
assert len(legend) == (1 if nseries > 1 else 0), f"{path}: {len(legend)} legends"
if legend:
    assert len(legend[0].findall("s:text", ns)) == nseries
assert root.find("s:text", ns) is not None, "no title or labels"
EOF
}

# png_size FILE: "W H" from the IHDR chunk, after checking the signature.
png_size() {
  "$PY" -c '
import struct, sys
b = open(sys.argv[1], "rb").read(24)
assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR", "not a PNG"
print(*struct.unpack(">II", b[16:24]))' "$1"
}

expect_fail() { # expect_fail CODE TEXT cmd...: exit status CODE and TEXT in stderr
  local code=$1 text=$2 rc=0
  shift 2
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "$* exited $rc, expected $code: $(cat err.txt)"
  grep -qF -- "$text" err.txt || fail "$*: stderr lacks '$text': $(cat err.txt)"
}

# expect_no_png DIR cmd...: built without libpng, cmd is refused before any work: exit 2,
# the one line naming what is missing, nothing on stdout, and no DIR written.
expect_no_png() {
  local dir=$1
  shift
  expect_fail 2 "digitnet was built without libpng; install libpng-dev and rebuild" "$@"
  [ "$(wc -l <err.txt)" -eq 1 ] && [ ! -s out.txt ] || fail "$*: not one line on stderr and none on stdout: $(cat out.txt err.txt)"
  [ ! -e "$dir" ] || fail "$*: wrote $dir although it was refused"
}

# ---- digitnet plot on hand-made CSVs -------------------------------------------------
printf 'epoch,errors,loss\n0,90,2.5\n1,40,1.0\n2,20,0.5\n3,0,0.25\n4,5,0.2\n' >m.csv
"$DIGITNET" plot m.csv >out.txt
[ -f m.svg ] || fail "plot m.csv did not write m.svg"
svg_check m.svg 1 5
"$DIGITNET" plot m.csv --y errors,loss --title 'two <lines>' --out two.svg >out.txt
svg_check two.svg 2 5 5
grep -q 'two &lt;lines&gt;' two.svg || fail "title not escaped"
"$DIGITNET" plot m.csv --log-y --out log.svg >out.txt
svg_check log.svg 1 4 # the 0 has no place on a log axis
printf 'round,rule,test_error\n1,mean,0.30\n1,median,0.35\n2,mean,0.20\n2,median,0.22\n' >fed.csv
printf '3,mean,0.1\n3,median,0.12\n' >>fed.csv
"$DIGITNET" plot fed.csv --y test_error --group rule >out.txt
svg_check fed.svg 2 3 3
printf 'epoch,errors\r\n0,5\r\n1,3\r\n\n' >crlf.csv # CRLF and a trailing blank line are fine
"$DIGITNET" plot crlf.csv >out.txt
svg_check crlf.svg 1 2

# strict CSV: each error names the file and the line
printf 'epoch,errors\n0,5\n1,3,7\n' >fields.csv
expect_fail 3 "fields.csv:3: 3 fields, but the header names 2 columns" "$DIGITNET" plot fields.csv
printf 'epoch,errors\n0,5\n1,abc\n' >nan.csv
expect_fail 3 "nan.csv:3: column 'errors': 'abc' is not a finite number" "$DIGITNET" plot nan.csv
printf 'epoch,errors\n0,5\n\n1,3\n' >blank.csv
expect_fail 3 "blank.csv:3: empty line" "$DIGITNET" plot blank.csv
: >empty.csv
expect_fail 3 "empty.csv:1: empty file" "$DIGITNET" plot empty.csv
printf 'epoch,errors\n' >header.csv
expect_fail 3 "header.csv: no data rows" "$DIGITNET" plot header.csv
printf 'epoch,,x\n0,1,2\n' >noname.csv
expect_fail 3 "noname.csv:1: column 2" "$DIGITNET" plot noname.csv
expect_fail 2 "no column 'nope' (columns: epoch, errors, loss)" "$DIGITNET" plot m.csv --y nope
expect_fail 4 "missing.csv: cannot open" "$DIGITNET" plot missing.csv
[ ! -e fields.svg ] && [ ! -e nan.svg ] || fail "a failed plot left a file"

# ---- several CSVs overlaid: one line per file ----------------------------------------
# different lengths and column sets; each has round and test_accuracy
printf 'round,test_error,test_accuracy\n1,0.5,0.5\n2,0.3,0.7\n3,0.2,0.8\n' >c01.csv
printf 'round,test_accuracy,seconds\n1,0.6,1.0\n2,0.8,2.0\n3,0.85,3.0\n4,0.9,4.0\n5,0.92,5.0\n' >c02.csv
mkdir -p runs
printf 'round,test_accuracy\n1,0.4\n2,0.6\n' >runs/c1.csv
"$DIGITNET" plot c01.csv c02.csv runs/c1.csv --y test_accuracy --out cmp.svg >out.txt
grep -qx 'wrote cmp.svg (3 series, one per file)' out.txt || fail "overlay stdout: $(cat out.txt)"
svg_check cmp.svg 3 3 5 2
# legend_check FILE LABEL...: the series' data-label attributes and the legend texts, in order
legend_check() {
  "$PY" - "$@" <<'EOF' || fail "legend_check $*"
import sys, xml.etree.ElementTree as ET
path, want = sys.argv[1], sys.argv[2:]
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(path).getroot()
got = [g.get("data-label") for g in root.findall("s:g[@class='series']", ns)]
assert got == want, f"{path}: series {got}, expected {want}"
legend = [t.text for t in root.findall("s:g[@class='legend']/s:text", ns)]
assert legend == want, f"{path}: legend {legend}, expected {want}"
EOF
}
legend_check cmp.svg c01 c02 c1
"$DIGITNET" plot c01.csv c02.csv runs/c1.csv --y test_accuracy --labels 'C=0.1, C=0.2,C=1' --out lab.svg >out.txt
svg_check lab.svg 3 3 5 2
legend_check lab.svg C=0.1 C=0.2 C=1
cp c01.csv runs/c01.csv # two files of one name: the legend gives their paths
"$DIGITNET" plot c01.csv runs/c01.csv --y test_accuracy --out same.svg >out.txt
legend_check same.svg c01 runs/c01
"$DIGITNET" plot c01.csv c02.csv --x test_accuracy --y round --out xy.svg >out.txt
svg_check xy.svg 2 3 5

# the refusals: exit 2 (4: a file that cannot be opened; 3: a bad value), one line naming the file, no chart
expect_refusal() { # expect_refusal CODE TEXT cmd...: as expect_fail, with one line on stderr and no bad.svg
  expect_fail "$@"
  [ "$(wc -l <err.txt)" -eq 1 ] || fail "${*:3}: not one line on stderr: $(cat err.txt)"
  [ ! -e bad.svg ] || { fail "${*:3}: wrote bad.svg although it was refused"; rm -f bad.svg; }
}
expect_refusal 2 "--labels gives 2 labels for 3 CSV files" \
  "$DIGITNET" plot c01.csv c02.csv runs/c1.csv --y test_accuracy --labels a,b --out bad.svg
expect_refusal 2 "--labels: label 2 is empty" \
  "$DIGITNET" plot c01.csv c02.csv --y test_accuracy --labels 'a, ' --out bad.svg
expect_refusal 2 "m.csv: no column 'test_accuracy' (columns: epoch, errors, loss)" \
  "$DIGITNET" plot c01.csv m.csv --y test_accuracy --out bad.svg
expect_refusal 2 "c02.csv: no column 'test_error'" "$DIGITNET" plot c01.csv c02.csv --y test_error --out bad.svg
expect_refusal 2 "exactly one --y column" "$DIGITNET" plot c01.csv c02.csv --y test_accuracy,round --out bad.svg
expect_refusal 2 "exactly one --y column" "$DIGITNET" plot c01.csv c02.csv --out bad.svg
expect_refusal 4 "missing.csv: cannot open" "$DIGITNET" plot c01.csv missing.csv --y test_accuracy --out bad.svg
printf 'round,test_accuracy\n1,0.4\n2,x\n' >bad_value.csv
expect_refusal 3 "bad_value.csv:3: column 'test_accuracy': 'x' is not a finite number" \
  "$DIGITNET" plot c01.csv bad_value.csv --y test_accuracy --out bad.svg
expect_refusal 2 "--group splits one file's rows" \
  "$DIGITNET" plot c01.csv fed.csv --y test_accuracy --group rule --out bad.svg
expect_refusal 2 "several CSV files need --out FILE.svg" "$DIGITNET" plot c01.csv c02.csv --y test_accuracy
[ ! -e c01.svg ] || fail "an overlay without --out wrote c01.svg"
expect_refusal 2 "--labels names the lines of several CSV files" "$DIGITNET" plot c01.csv --labels a --out bad.svg
many=()
for i in $(seq 65); do many+=(c01.csv); done
expect_refusal 2 "at most 64 CSV files" "$DIGITNET" plot "${many[@]}" --y test_accuracy --out bad.svg

# ---- with MNIST: pta, eval, reproduce ------------------------------------------------
if [ ! -e "$DATA/t10k-labels-idx1-ubyte" ] && [ ! -e "$DATA/t10k-labels-idx1-ubyte.gz" ]; then
  echo "cli_plot: no MNIST in $DATA; skipped the parts that need it"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi

# progress in a pipe: one plain line per epoch on stderr, no carriage return; results on stdout
# (with --plot where this build can draw the figures)
plot_figs=()
[ "$have_png" = 0 ] || plot_figs=(--plot figs)
"$DIGITNET" pta --data "$DATA" --train-size 500 --max-epochs 6 --average ${plot_figs[@]+"${plot_figs[@]}"} \
  --save model.st >out.txt 2>err.txt
[ "$(grep -c '^pta: .*epoch' err.txt)" -eq 6 ] || fail "expected 6 progress lines, got: $(cat err.txt)"
! grep -q $'\r' err.txt || fail "carriage return in non-terminal progress output"
! grep -q $'\e' err.txt || fail "escape sequence in non-terminal progress output"
grep -q '^test error: ' out.txt || fail "results missing from stdout"
if [ "$have_png" = 1 ]; then
  grep -q '^plots in figs: curve.svg confusion.svg misclassified.png weights.png weights_average.png$' out.txt ||
    fail "pta --plot listing: $(cat out.txt)"
  svg_check figs/curve.svg 1 6 # epochs 0..5: epoch 0 included
  "$PY" -c '
import sys, xml.etree.ElementTree as ET
cells = ET.parse(sys.argv[1]).getroot().findall(".//{http://www.w3.org/2000/svg}rect[@class=\"cell\"]")
assert len(cells) == 100, len(cells)
assert sum(int(c.get("data-true") == c.get("data-predicted")) for c in cells) == 10' figs/confusion.svg ||
    fail "confusion.svg cells"
  [ "$(png_size figs/weights.png)" = "1168 508" ] || fail "weights.png size $(png_size figs/weights.png)"
  size=$(png_size figs/misclassified.png) # 60 images, 10 columns, scale 4
  [ "$size" = "1164 808" ] || fail "misclassified.png size $size"
else
  expect_no_png figs "$DIGITNET" pta --data "$DATA" --train-size 500 --max-epochs 6 --average --plot figs
  expect_no_png figs "$DIGITNET" pta --data "$DATA" --train-size 500 --max-epochs 6 --plot=figs
  echo "SKIP: pta --plot figures: this digitnet was built without libpng"
  skipped_parts=$((skipped_parts + 1))
fi

"$DIGITNET" pta --data "$DATA" --train-size 300 --max-epochs 3 --quiet >out.txt 2>err.txt
[ ! -s err.txt ] || fail "--quiet still wrote to stderr: $(cat err.txt)"
grep -q '^test error: ' out.txt || fail "--quiet dropped the results"

# a terminal gets the live bar (\r redraws); script(1) provides the pseudo-terminal
if command -v script >/dev/null; then
  script -qec "$DIGITNET pta --data $DATA --train-size 300 --max-epochs 3" /dev/null >tty.txt 2>&1 || true
  grep -q $'\r' tty.txt || fail "no live bar on a terminal: $(cat -A tty.txt | head -5)"
fi

if [ "$have_png" = 0 ]; then
  expect_no_png evalfigs "$DIGITNET" eval model.st --data "$DATA" --plot evalfigs
  expect_no_png rep "$DIGITNET" reproduce --data "$DATA" --out rep --cap 3 --max-epochs 3
  echo "SKIP: eval --plot and reproduce's report: this digitnet was built without libpng"
  skipped_parts=$((skipped_parts + 1))
else
  "$DIGITNET" eval model.st --data "$DATA" --plot evalfigs >out.txt
  grep -q '^plots in evalfigs: confusion.svg misclassified.png weights.png$' out.txt || fail "eval --plot: $(cat out.txt)"
  cmp -s figs/weights.png evalfigs/weights.png || fail "eval drew a different W than pta"

  # the report: every figure linked from report.md exists, report.html carries them all inline
  "$DIGITNET" reproduce --data "$DATA" --out rep --cap 3 --max-epochs 3 >out.txt 2>err.txt
  ! grep -q $'\r' err.txt || fail "carriage return in reproduce's non-terminal progress"
  "$PY" - rep <<'EOF' || fail "report check"
import os, re, sys
from html.parser import HTMLParser
d = sys.argv[1]
md = open(os.path.join(d, "report.md"), encoding="utf-8").read()
figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
assert len(figs) >= 9, figs
for f in figs:
    assert os.path.exists(os.path.join(d, f)), f
svgs = [f for f in figs if f.endswith(".svg")]
pngs = [f for f in figs if f.endswith(".png")]
class Counter(HTMLParser):
    def __init__(self):
        super().__init__(); self.svg = 0; self.img = []; self.external = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg": self.svg += 1
        if tag == "img": self.img.append(a.get("src", ""))
        if tag in ("link", "script") or (tag == "img" and not a.get("src", "").startswith("data:image/png;base64,")):
            self.external.append(tag)
c = Counter()
c.feed(open(os.path.join(d, "report.html"), encoding="utf-8").read())
assert c.svg == len(svgs), (c.svg, svgs)
assert len(c.img) == len(pngs), (len(c.img), pngs)
assert not c.external, c.external
EOF
fi

[ "$failures" -eq 0 ] || { echo "cli_plot: $failures failure(s)"; exit 1; }
[ "$skipped_parts" -eq 0 ] || { echo "cli_plot: passed, $skipped_parts part(s) skipped (SKIP above)"; exit 77; }
echo "cli_plot: all passed"
