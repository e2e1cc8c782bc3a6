#!/usr/bin/env bash
# cli_serve_live.sh — `--serve HOST:PORT` of the training commands: the page's
# run log while `digitnet mlp`, `digitnet pta` and a federated run train
# (GET /api/events streams one row per epoch or round, then `done`; the rows
# are the numbers of --metrics), the trained model served afterwards (its
# prediction equals `digitnet predict --json` of the saved model), SIGTERM and
# SIGINT ending it with exit 0; Ctrl-C during training still ends the
# program at once; an address in use refused before any training.
# Skipped (77) without MNIST or when the program is built without HTTP.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_serve_live: no MNIST in $DATA, skipped"; exit 77; }
"$DIGITNET" --version | grep -qw http || { echo "cli_serve_live: digitnet built without libmicrohttpd, skipped"; exit 77; }
source "$SRC/tests/lib/workdir.sh"
dn_workdir cli_serve_live
"$PY" "$SRC/tests/lib/mnist_subset.py" "$DATA" sub 2000 500

pid=
DIGITNET_CMD=("$DIGITNET")
trap '[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null; dn_workdir_cleanup' EXIT

# start NAME ARGS...: the command in the background (out in NAME.out, NAME.err); sets pid and url.
start() {
  local name=$1; shift
  "${DIGITNET_CMD[@]}" "$@" >"$name.out" 2>"$name.err" &
  pid=$! url=
  for _ in $(seq 100); do
    url=$(sed -n 's|^digitnet serve: listening on \(http://127\.0\.0\.1:[0-9]*/\)$|\1|p' "$name.out")
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "$name: no 'listening on' line: $(cat "$name.out" "$name.err")"
  return 1
}

# stop SIGNAL WANT_RC: the signal, then the exit status within 2 s.
stop() {
  kill -"$1" "$pid"
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { fail "still running 2 s after SIG$1"; kill -KILL "$pid"; }
  local rc=0
  wait "$pid" || rc=$?
  pid=
  [ "$rc" -eq "$2" ] || fail "exit $rc after SIG$1, expected $2"
}

# --- mlp: rows = --metrics, the trained model served as saved
start mlp mlp --data sub --train-size 2000 --epochs 3 --hidden 32 --threads 1 --serve 127.0.0.1:0 \
  --save m.st --metrics m.csv
"$PY" "$SRC/tests/lib/live_events.py" "$url" >mlp.json
"$PY" - mlp.json m.csv <<'PY' || fail "mlp: the live rows differ from --metrics"
import csv, json, sys
got = json.load(open(sys.argv[1])); want = list(csv.DictReader(open(sys.argv[2])))
run, rows = got["run"], got["rows"]
assert run["state"] == "done" and run["kind"] == "mlp" and run["model"] == "m", run
assert got["done"] == {"model": "m"}, got["done"]
assert run["command"].startswith("digitnet mlp --data sub"), run["command"]
cols = run["columns"]
assert len(rows) == 3 and rows == run["rows"], rows
for row, w in zip(rows, want):
    r = dict(zip(cols, row))
    assert r["epoch"] == int(w["epoch"]), (r, w)
    assert r["validation_accuracy"] is None
    for key in ("train_loss", "train_accuracy", "test_accuracy"):
        assert abs(r[key] - float(w[key])) < 2e-6, (key, r[key], w[key])
print("mlp: %d live rows = --metrics; last test accuracy %.4f" % (len(rows), rows[-1][cols.index("test_accuracy")]))
PY
# the served model is the saved one: the first test image as 784 raw bytes against predict --json
"$PY" -c 'import sys; f = open("sub/t10k-images-idx3-ubyte", "rb"); f.seek(16); sys.stdout.buffer.write(f.read(784))' >img.raw
"$PY" - "$url" img.raw <("$DIGITNET" predict --json m.st sub/t10k-images-idx3-ubyte | head -1) <<'PY' ||
import json, sys, urllib.request
url, raw, line = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3]).readline()
req = urllib.request.Request(url + "api/predict?model=m", data=raw, headers={"Content-Type": "application/octet-stream"})
api, cli = json.load(urllib.request.urlopen(req, timeout=10)), json.loads(line)
assert api["digit"] == cli["digit"], (api["digit"], cli["digit"])
assert max(abs(a - b) for a, b in zip(api["probabilities"], cli["probabilities"])) <= 1e-6
print("mlp: the served model predicts %d, as predict --json of the saved file" % api["digit"])
PY
  fail "mlp: the served model differs from the saved one"
grep -q '^training done: serving m at http://127.0.0.1:[0-9]*/ until Ctrl-C$' mlp.out || fail "mlp: no 'training done' line"
stop TERM 0
[ ! -s mlp.err ] || fail "mlp wrote to stderr: $(head -c 500 mlp.err)"

# --- an address in use: refused before training, naming it
start holder mlp --data sub --train-size 500 --epochs 1 --hidden 8 --threads 1 --serve 127.0.0.1:0
hold=${url#http://} hold_pid=$pid
hold=${hold%/}
rc=0; "$DIGITNET" mlp --data sub --train-size 500 --epochs 1 --hidden 8 --serve "$hold" >busy.out 2>busy.err || rc=$?
[ "$rc" -ne 0 ] || fail "a busy address was not refused"
grep -q "$hold" busy.err || fail "the refusal does not name the address: $(cat busy.err)"
! grep -q '^ *1 ' busy.out || fail "training started although the address was busy"
echo "busy address: exit $rc, $(head -1 busy.err)"
pid=$hold_pid; stop INT 0

# --- pta: rows = --metrics (epoch, errors)
start pta pta --data sub --train-size 500 --max-epochs 4 --serve 127.0.0.1:0 --metrics p.csv --quiet
"$PY" "$SRC/tests/lib/live_events.py" "$url" >pta.json
"$PY" - pta.json p.csv <<'PY' || fail "pta: the live rows differ from --metrics"
import csv, json, sys
got = json.load(open(sys.argv[1])); want = list(csv.DictReader(open(sys.argv[2])))
run, rows = got["run"], got["rows"]
assert run["kind"] == "perceptron" and run["model"] == "perceptron" and run["state"] == "done", run
assert [[r[0], r[1]] for r in rows] == [[int(w["epoch"]), int(w["errors"])] for w in want], (rows, want)
print("pta: %d live rows = --metrics (errors %s)" % (len(rows), [r[1] for r in rows]))
PY
stop INT 0

# --- Ctrl-C while training ends the program at once, as without --serve (a shell
# starts background commands with SIGINT ignored: env gives it back its default)
DIGITNET_CMD=(env --default-signal=INT "$DIGITNET")
start long mlp --data sub --train-size 2000 --epochs 100000 --hidden 32 --threads 1 --serve 127.0.0.1:0
for _ in $(seq 100); do grep -q '^ *1 ' long.out && break; sleep 0.1; done
stop INT 130
echo "Ctrl-C during training: ended"

# --- a federated run (a job of one, without mpirun): one row per round
if "$DIGITNET" --version | grep -qw mpi; then
  # Open MPI's own allocations are no leaks of ours (as tests/lib/mpi_env.sh says for the MPI tests)
  DIGITNET_CMD=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" OMPI_ALLOW_RUN_AS_ROOT=1
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$DIGITNET")
  start fed mlp --data sub --train-size 2000 --hidden 16 --threads 1 --distributed fedavg --clients 5 --rounds 2 \
    --serve 127.0.0.1:0
  "$PY" "$SRC/tests/lib/live_events.py" "$url" >fed.json
  "$PY" -c 'import json, sys; g = json.load(open("fed.json")); c = g["run"]["columns"]
assert c[0] == "round" and "test_accuracy" in c, c
assert [r[0] for r in g["rows"]] == [1, 2], g["rows"]
print("fedavg: rounds", [r[0] for r in g["rows"]])' || fail "fedavg: wrong live rows"
  stop INT 0
fi

[ "$failures" -eq 0 ] || { echo "cli_serve_live: $failures failure(s)"; exit 1; }
echo "cli_serve_live: ok"
