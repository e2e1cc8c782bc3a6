#!/usr/bin/env bash
# cli_partition.sh — `digitnet partition` end to end on the first 2000 MNIST
# training samples: the assignment file (read back with Python's struct and
# json: a safetensors header and I64 tensors), labels.csv and the heat map
# agree with each other and with the data; shards:2 gives few labels per
# client; the same seed gives the same file; bad flags and specs are refused
# with one line and the right exit code, writing nothing. Parts that need
# MNIST are skipped (exit 77) when DN_DATA has no data.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "cli_partition: $PY is missing (scripts/deps.sh test installs it)"; exit 1; }
source "$SRC/tests/lib/workdir.sh"
dn_workdir cli_partition
expect_ok() { # expect_ok cmd...: exit status 0, stdout in out.txt
  "$@" >out.txt 2>err.txt || fail "$* exited $?: $(cat err.txt)"
}
expect_fail() { # expect_fail CODE TEXT cmd...: exit status CODE, TEXT in stderr, one line
  local code=$1 text=$2 rc=0
  shift 2
  "$@" >out.txt 2>err.txt || rc=$?
  [ "$rc" -eq "$code" ] || fail "$* exited $rc, expected $code: $(cat err.txt)"
  grep -qF -- "$text" err.txt || fail "$*: stderr lacks '$text': $(cat err.txt)"
  [ "$(wc -l <err.txt)" -eq 1 ] || fail "$*: more than one line on stderr: $(cat err.txt)"
}
has() { grep -qF -- "$1" "${2:-out.txt}" || fail "'$1' not in ${2:-out.txt}: $(head -c 600 "${2:-out.txt}")"; }

# ---- flags and specs, before any data is read
expect_ok "$DIGITNET" partition --help
has "--partition SPEC"
has "iid, shards:S, dirichlet:ALPHA[:MIN], quantity:SIGMA"
has "(default 100)"
"$DIGITNET" --help | grep -q "^  partition " || fail "partition missing from digitnet --help"
expect_fail 2 "unknown partition 'foo' (valid: iid, shards:S" "$DIGITNET" partition --partition foo --out p
expect_fail 2 "S in shards:S must be a whole number" "$DIGITNET" partition --partition shards:0 --out p
expect_fail 2 "ALPHA in dirichlet:ALPHA must be a finite number above 0" "$DIGITNET" partition --partition dirichlet:-1 --out p
expect_fail 2 "--out DIR is required" "$DIGITNET" partition --partition iid
expect_fail 2 "--clients 0: out of range" "$DIGITNET" partition --clients 0 --out p
[ ! -e p ] || fail "a refused command created its output folder"

if [ ! -e "$DATA/train-images-idx3-ubyte" ] && [ ! -e "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "cli_partition: no MNIST in $DATA; skipped the parts that need it"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi
"$PY" "$SRC/tests/lib/mnist_subset.py" "$DATA" sub 2000 10

# check DIR K N MAXLABELS: the file, the CSV and the SVG of a partition of N samples over K clients.
check() {
  "$PY" - "$@" sub/train-labels-idx1-ubyte <<'EOF' || fail "check $*"
import csv, json, struct, sys, xml.etree.ElementTree as ET
folder, k, n, max_labels, labels_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
labels = open(labels_path, "rb").read()[8:8 + n]
raw = open(folder + "/partition.safetensors", "rb").read()
(hlen,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + hlen])
meta = header["__metadata__"]
assert meta["kind"] == "partition" and meta["clients"] == str(k) and meta["train_size"] == str(n), meta
def tensor(name, shape):
    t = header[name]
    assert t["dtype"] == "I64" and t["shape"] == shape, t
    b, e = t["data_offsets"]
    data = raw[8 + hlen + b:8 + hlen + e]
    return struct.unpack("<%dq" % (len(data) // 8), data)
client = tensor("client", [n])
counts = tensor("label_counts", [k, 10])
assert all(0 <= c < k for c in client)
mine = [[0] * 10 for _ in range(k)]
for i, c in enumerate(client):
    mine[c][labels[i]] += 1
assert [list(counts[c * 10:c * 10 + 10]) for c in range(k)] == mine, "label_counts differ from the data"
rows = list(csv.reader(open(folder + "/labels.csv")))
assert rows[0] == ["client", "n"] + ["label_%d" % d for d in range(10)], rows[0]
assert len(rows) == k + 1, len(rows)
for c, row in enumerate(rows[1:]):
    values = list(map(int, row))
    assert values[0] == c and values[1] == sum(mine[c]) and values[2:] == mine[c], row
    assert sum(1 for v in values[2:] if v) <= max_labels, f"client {c} has labels {values[2:]}"
assert sum(int(r[1]) for r in rows[1:]) == n
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(folder + "/labels.svg").getroot()
cells = root.findall("s:rect[@class='cell']", ns)
assert len(cells) == k * 10, len(cells)
assert all(int(r.get("data-value")) == mine[int(r.get("data-row"))][int(r.get("data-col"))] for r in cells)
EOF
}

# ---- the four kinds
expect_ok "$DIGITNET" partition --data sub --clients 20 --partition shards:2 --train-size 2000 --seed 3 --out shards
has "partition: shards:2 of the first 2000 training samples over 20 clients (seed 3)"
has "client sizes: min 100, max 100, mean 100.0"
has "(10 more clients in labels.csv)"
has "wrote shards/partition.safetensors, shards/labels.csv, shards/labels.svg"
check shards 20 2000 4 # a shard of 50 may straddle two labels: at most 4 per client
two=$(awk -F, 'NR > 1 { m = 0; for (i = 3; i <= NF; i++) m += ($i > 0); if (m <= 2) c++ } END { print c + 0 }' shards/labels.csv)
[ "$two" -ge 10 ] || fail "shards:2: only $two of 20 clients hold at most 2 labels"

expect_ok "$DIGITNET" partition --data sub --clients 7 --train-size 1000 --out iid
has "client sizes: min 142, max 143"
check iid 7 1000 10

expect_ok "$DIGITNET" partition --data sub --clients 10 --partition dirichlet:0.1 --train-size 2000 --out d1
has "largest label share: mean 0."
check d1 10 2000 10
expect_ok "$DIGITNET" partition --data sub --clients 10 --partition=dirichlet:0.1 --train-size 2000 --seed 1 --out d2
cmp -s d1/partition.safetensors d2/partition.safetensors || fail "dirichlet: the same seed gave another file"
expect_ok "$DIGITNET" partition --data sub --clients 10 --partition dirichlet:0.1 --train-size 2000 --seed 2 --out d3
cmp -s d1/partition.safetensors d3/partition.safetensors && fail "dirichlet: seeds 1 and 2 gave the same file"
expect_ok "$DIGITNET" partition --data sub --clients 10 --partition dirichlet:100 --train-size 2000 --out d100
share() { sed -n 's/.*largest label share: mean \([0-9.]*\).*/\1/p' "$1"; }
"$DIGITNET" partition --data sub --clients 10 --partition dirichlet:0.1 --train-size 2000 --out d1 >d1.txt
"$PY" -c "import sys; sys.exit(0 if float('$(share d1.txt)') > float('$(share out.txt)') + 0.3 else 1)" ||
  fail "dirichlet: alpha 0.1 share $(share d1.txt) is not well above alpha 100's $(share out.txt)"

expect_ok "$DIGITNET" partition --data sub --clients 10 --partition quantity:1 --train-size 2000 --out q
check q 10 2000 10

# ---- refused, nothing written
expect_fail 2 "--train-size 3000 is larger than the training set (valid: 1 to 2000)" \
  "$DIGITNET" partition --data sub --train-size 3000 --out no1
expect_fail 2 "--clients 2000 is more than the 1000 samples" \
  "$DIGITNET" partition --data sub --clients 2000 --train-size 1000 --out no2
expect_fail 2 "more shards than the 1000 samples" \
  "$DIGITNET" partition --data sub --clients 600 --partition shards:2 --train-size 1000 --out no3
expect_fail 2 "clients of at least 10 samples" \
  "$DIGITNET" partition --data sub --clients 200 --partition dirichlet:1 --train-size 1000 --out no4
for d in no1 no2 no3 no4; do [ ! -e "$d" ] || fail "$d was created by a refused command"; done
touch afile
expect_fail 4 "cannot create folder" "$DIGITNET" partition --data sub --clients 5 --train-size 100 --out afile/p
expect_fail 4 "no train images file" "$DIGITNET" partition --data nowhere --out no5

[ "$failures" -eq 0 ] || { echo "cli_partition: $failures failure(s)"; exit 1; }
echo "cli_partition: all passed"
