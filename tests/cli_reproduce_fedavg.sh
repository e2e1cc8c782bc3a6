#!/usr/bin/env bash
# cli_reproduce_fedavg.sh — `digitnet reproduce --experiment fedavg`, made
# small: C = 0.1, three rates, a target of 90 % within at most 8 rounds, so
# the IID cell reaches it and the non-IID one (2 label shards per client)
# most likely does not — both outcomes are checked, whichever happens.
#   - the report's table, one row per cell, agrees with the CSVs: the rate
#     chosen is the one whose CSV first reaches the target soonest, and its
#     round is the table's; a rate stopped early ran exactly as many rounds
#     as the best (the pruning), never more than the cap, and its CSV never
#     reached the target;
#   - --jobs 1 (in process) and --jobs 2 (forked workers) give the same
#     curves (every column but the seconds) and the same result files;
#   - the figures are well-formed SVG with one line per C;
#   - bad flags: exit 2, one line, nothing written.
# Skipped (77) without MNIST.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
PY=/usr/bin/python3
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_reproduce_fedavg: no MNIST in $DATA, skipped"; exit 77; }
source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_reproduce_fedavg

small=(--experiment fedavg --data "$DATA" --fractions 0.1 --lr-grid 0.05,0.1,0.2 --target 0.9 --max-rounds 8 --quiet)
"$DIGITNET" reproduce "${small[@]}" --jobs 2 --out two >two.txt 2>two.err || fail "--jobs 2 failed: $(tail -3 two.err)"
"$DIGITNET" reproduce "${small[@]}" --jobs 1 --out one >one.txt 2>one.err || fail "--jobs 1 failed: $(tail -3 one.err)"
grep -q "^wrote two/report.md, two/report.html" two.txt || fail "no 'wrote' line: $(tail -2 two.txt)"
[ -s two.err ] && fail "--quiet wrote to stderr: $(head -3 two.err)"

# --- the same runs in workers and in process (seconds aside)
for f in one/*.csv; do
  cmp -s <(cut -d, -f1-5,7 "$f") <(cut -d, -f1-5,7 "two/${f#one/}") || fail "$f: --jobs 1 and --jobs 2 differ"
done
for f in one/*.result; do
  cmp -s <(cut -d' ' -f1-3 "$f") <(cut -d' ' -f1-3 "two/${f#one/}") || fail "$f: --jobs 1 and --jobs 2 differ"
done
[ "$(ls one/*.csv | wc -l)" = 6 ] || fail "expected 6 CSVs (2 partitions x 3 rates): $(ls one)"

# --- the table agrees with the CSVs; the pruning
"$PY" - two <<'EOF' || fail "the report does not match the CSVs"
import csv, glob, os, re, sys
out = sys.argv[1]
target, cap = 0.9, 8
grid = ["0.05", "0.1", "0.2"]
table = {}
for line in open(os.path.join(out, "report.md")):
    m = re.match(r"\| (iid|noniid) \| 0\.1 \| 10 \| ([^|]+) \| ([^|]+) \|", line)
    if m:
        table[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
assert set(table) == {"iid", "noniid"}, table
for part in ("iid", "noniid"):
    runs = {}
    for path in glob.glob(os.path.join(out, f"{part}_C0.1_lr*.csv")):
        lr = path.rsplit("_lr", 1)[1][:-4]
        rows = list(csv.DictReader(open(path)))
        assert [int(r["round"]) for r in rows] == list(range(1, len(rows) + 1)), path
        assert all(r["clients_reported"] == "10" for r in rows), path
        hit = next((int(r["round"]) for r in rows if float(r["test_accuracy"]) >= target), None)
        # a run stops at the target: nothing after its first hit
        assert hit is None or hit == len(rows), (path, hit, len(rows))
        runs[lr] = (hit, len(rows))
    reached = {lr: h for lr, (h, n) in runs.items() if h}
    rounds, rate = table[part]
    if reached:
        best = min(reached.values())
        assert rounds == str(best), (part, rounds, best)
        assert rate == next(lr for lr in grid if reached.get(lr) == best), (part, rate, reached)  # ties: grid order
        # the middle rate (0.1) ran first; a later rate is cut at the best so far, so none ran past the best
        for lr, (h, n) in runs.items():
            assert n <= cap and (h or n <= max(reached.values())), (part, lr, h, n)
    else:
        assert rounds == f"not in {cap}" and rate == "—", (part, rounds, rate)
        assert all(n == cap for h, n in runs.values()), runs
    print(f"{part}: rounds to {target:.0%}: {rounds} (rate {rate}); runs {runs}")
EOF
grep -q "^| iid | 0.1 | 10 | [0-9]" two/report.md || fail "the IID cell did not reach 90 % in 8 rounds: $(grep '^| iid' two/report.md)"
grep -q "McMahan" two/report.html || fail "report.html lacks its heading"

# --- figures: one line per C
for part in iid noniid; do
  "$PY" - "two/fedavg_$part.svg" <<'EOF' || fail "fedavg_$part.svg"
import sys, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
assert len(root.findall("s:g[@class='series']", ns)) == 1
EOF
done

# --- refusals: exit 2, one line, no output folder
refused() {
  local want=$1 rc=0; shift
  "$DIGITNET" reproduce --experiment fedavg --data "$DATA" --out bad "$@" >/dev/null 2>err.txt || rc=$?
  [ $rc = 2 ] || fail "expected exit 2, got $rc: $*"
  [ "$(wc -l <err.txt)" = 1 ] || fail "not one line: $*: $(cat err.txt)"
  grep -q -- "$want" err.txt || fail "$*: the message does not say '$want': $(cat err.txt)"
  [ ! -e bad ] || fail "$*: a refused run made its output folder"
}
refused "expected numbers in \[0, 1\]" --fractions 0.1,1.5
refused "expected numbers in (0, 100\]" --lr-grid 0.1,0
refused "at most 16" --lr-grid 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
refused "no values" --fractions ""
refused "--target" --target 0
refused "--jobs" --jobs 0
rc=0
"$DIGITNET" reproduce --experiment fedavg --data "$work/no-such-folder" --out bad >/dev/null 2>err.txt || rc=$?
[ $rc = 4 ] && grep -q "no-such-folder: no train images file" err.txt || fail "missing data: exit $rc, $(cat err.txt)"
[ ! -e bad ] || fail "a run without data made its output folder"
rc=0
"$DIGITNET" reproduce --experiment nonsense >/dev/null 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q "valid: pta, fedavg" err.txt || fail "an unknown experiment: exit $rc, $(cat err.txt)"
"$DIGITNET" reproduce --experiment fedavg --help | grep -q -- "--lr-grid" || fail "--help lacks --lr-grid"
"$DIGITNET" reproduce --help | grep -q -- "--experiment" || fail "reproduce --help lacks --experiment"

[ $failures = 0 ] && echo "cli_reproduce_fedavg: all passed" || { echo "cli_reproduce_fedavg: $failures failed"; exit 1; }
