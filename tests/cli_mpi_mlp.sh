#!/usr/bin/env bash
# cli_mpi_mlp.sh — `digitnet mlp --distributed sync|fedavg` under mpirun
#, against the single-process trainer:
#   sync with 1 rank = `digitnet mlp` bit for bit (the summed step on the
#   plain-C products, layer 0 split with BLAS); 2 and 3 ranks = it within
#   float rounding; --deterministic repeats bit for bit, and so does the
#   split step without it; --profile prints rank 0's phases;
#   FedAvg with one local full-batch step = one centralised full-batch step;
#   FedAvg over identical shards = one worker;
#   a NaN-sending rank is refused by name under mean, and the median,
#   trimmed mean and Krum still train; FedProx (--prox-mu) and FedAdam
#   (--server-adam) run and learn;
#   combinations that cannot work are usage errors.
# Models are compared tensor by tensor (safetensors parsed with Python's
# standard library). Skipped when Open MPI or MNIST is missing.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}
PY=/usr/bin/python3

source "$(dirname "$0")/lib/mpi_env.sh"
dn_mpi_one_thread

command -v mpirun >/dev/null || { echo "cli_mpi_mlp: mpirun not found, skipped"; exit 77; }
[ -x "$PY" ] || { echo "cli_mpi_mlp: $PY is missing (scripts/deps.sh test installs it)"; exit 1; }
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_mpi_mlp: no MNIST in $DATA, skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_mpi_mlp_XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

net=(--data "$DATA" --hidden 32 --threads 1 --quiet)
run() { local np=$1; shift; mpirun -np "$np" "$DIGITNET" mlp "${net[@]}" "$@"; }

# The build says which features it has; a failing run must fail the test, not skip it.
"$DIGITNET" --version | grep -w mpi >/dev/null || { echo "cli_mpi_mlp: this digitnet was built without MPI, skipped"; exit 77; }

# maxdiff A B: the largest |a − b| over every tensor of two model files.
maxdiff() {
  "$PY" - "$1" "$2" <<'EOF'
import array, json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head, out = json.loads(raw[8:8 + n]), {}
    for name, t in head.items():
        if name == "__metadata__": continue
        begin, end = t["data_offsets"]
        a = array.array({"F32": "f", "F64": "d"}[t["dtype"]]); a.frombytes(raw[8 + n + begin:8 + n + end]); out[name] = a
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
print("%.3g" % max(max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a))
EOF
}
# within A B TOL NAME: the models differ by at most TOL.
within() {
  local d; d=$(maxdiff "$1" "$2")
  "$PY" -c "import sys; sys.exit(0 if float('$d') <= float('$3') else 1)" || fail "$4: max difference $d > $3"
  echo "$4: max difference $d"
}
test_error() { grep -o 'test accuracy: [0-9.]*' "$1" | awk '{print 100 - $3}'; }

# --- sync: 1 rank is the single-process trainer, bit for bit, on the plain-C products (the summed
#     step) and with BLAS (SGD: layer 0 split across the ranks, one rank holding all of it); K ranks
#     match it closely (the summed step: the gradient's sums in another order; split: layer 0's
#     product cut by units)
S=(--train-size 1200 --epochs 2 --batch 60)
"$DIGITNET" mlp "${net[@]}" "${S[@]}" --matmul plain --save "$work/plain_c.st" >/dev/null
run 1 "${S[@]}" --matmul plain --distributed sync --save "$work/sync1_c.st" >/dev/null || fail "sync -np 1 failed"
cmp -s "$work/plain_c.st" "$work/sync1_c.st" || fail "sync -np 1 differs from digitnet mlp (--matmul plain)"
"$DIGITNET" mlp "${net[@]}" "${S[@]}" --save "$work/plain.st" >/dev/null
run 1 "${S[@]}" --distributed sync --save "$work/sync1.st" >/dev/null || fail "sync -np 1 failed"
cmp -s "$work/plain.st" "$work/sync1.st" || fail "sync -np 1 differs from digitnet mlp (BLAS, layer 0 split)"
for np in 2 3; do
  run $np "${S[@]}" --distributed sync --save "$work/sync$np.st" >/dev/null || fail "sync -np $np failed"
  within "$work/plain.st" "$work/sync$np.st" 1e-5 "sync -np $np vs one process, batch 60"
  run $np "${S[@]}" --optimizer adam --lr 0.001 --distributed sync --save "$work/adam$np.st" >/dev/null ||
    fail "sync -np $np with Adam (the summed step) failed"
done
# with a second hidden layer two ranks cut the layers as two threads do, and their one sum of z_1's
# partial sums (one addition a value, either order) is what the threads add: the same parameters
"$DIGITNET" mlp "${net[@]}" "${S[@]}" --hidden 32,16 --threads 2 --save "$work/threads2.st" >/dev/null
run 2 "${S[@]}" --hidden 32,16 --distributed sync --save "$work/sync2_deep.st" >/dev/null || fail "sync -np 2 failed"
within "$work/threads2.st" "$work/sync2_deep.st" 0 "sync -np 2 vs --threads 2, two hidden layers, batch 60"
"$DIGITNET" mlp "${net[@]}" "${S[@]}" --optimizer adam --lr 0.001 --save "$work/adam.st" >/dev/null
within "$work/adam.st" "$work/adam2.st" 1e-5 "sync -np 2 with Adam (summed) vs one process, batch 60"
for mode in --deterministic ""; do
  run 2 "${S[@]}" --distributed sync $mode --save "$work/det_a.st" >/dev/null
  run 2 "${S[@]}" --distributed sync $mode --save "$work/det_b.st" >/dev/null
  cmp -s "$work/det_a.st" "$work/det_b.st" || fail "sync ${mode:-(split)} is not bit-identical run to run"
done
run 2 "${S[@]}" --distributed sync --profile >"$work/profile.txt" || fail "sync --profile failed"
grep -q "where the steps' time went" "$work/profile.txt" && grep -Eq '^  comm +[0-9.]+ ' "$work/profile.txt" ||
  fail "sync --profile printed no phases: $(cat "$work/profile.txt")"

# --- FedAvg, one local full-batch step (plain SGD, constant rate) = one centralised full-batch step:
#     Σ_r (n_r/n)(w − η g_r) = w − η g, since the full gradient g is the n_r-weighted mean of the g_r.
F=(--train-size 999 --batch 1000 --momentum 0 --schedule none --lr 0.5)
"$DIGITNET" mlp "${net[@]}" "${F[@]}" --epochs 1 --save "$work/central.st" >/dev/null
for np in 2 3; do
  run $np "${F[@]}" --distributed fedavg --rounds 1 --local-epochs 1 --save "$work/fed$np.st" >/dev/null ||
    fail "fedavg -np $np failed"
  within "$work/central.st" "$work/fed$np.st" 1e-5 "fedavg one full-batch step, -np $np"
done

# --- FedAvg over identical shards = one worker (the mean of equal models is that model, exactly)
R=(--train-size 900 --batch 50 --distributed fedavg --rounds 2 --local-epochs 2)
run 1 "${R[@]}" --save "$work/one.st" >/dev/null
run 3 "${R[@]}" --shard replicate --save "$work/replicas.st" >/dev/null || fail "replicated shards failed"
within "$work/one.st" "$work/replicas.st" 0 "fedavg, 3 identical shards vs 1 worker"

# --- a faulty rank: refused by name under mean, survived by the robust rules
Q=(--train-size 4000 --batch 50 --distributed fedavg --rounds 3)
run 4 "${Q[@]}" >"$work/clean.txt"
clean=$(test_error "$work/clean.txt")
run 4 "${Q[@]}" --fault-rank 1 --fault nan >"$work/mean.txt" 2>"$work/mean_err.txt" || fail "mean with a NaN rank must run on"
grep -q "round 1: rank 1 sent a non-finite model: refused under mean, previous model kept" "$work/mean_err.txt" ||
  fail "mean: the NaN rank is not named"
# (two cases: every rule and attack is also checked by test_aggregate, test_adversary and cli_robust)
for case in "4 median nan" "5 krum scale:100"; do
  set -- $case
  run "$1" "${Q[@]}" --aggregate "$2" --fault-rank 1 --fault "$3" >"$work/robust.txt" 2>&1 ||
    fail "$2 / $3 failed: $(tail -5 "$work/robust.txt")"
  got=$(test_error "$work/robust.txt")
  echo "fault-free test error $clean%, $2 with rank 1 sending $3: $got%"
  # 3 short rounds on 4000 samples: within 3 points of the fault-free run (≈ 12%) shows the rule held.
  awk -v a="$got" -v b="$clean" 'BEGIN { exit !(a <= b + 3) }' || fail "$2 / $3: test error $got% vs $clean% fault-free"
done

# --- FedProx and the server optimisers run under mpirun and learn (the short rounds above; FedAdam's
#     default server lr 0.01 bounds each round's move, so it gets 6: ≈ 12% then, 20% after 3)
for extra in "--prox-mu 0.01" "--server-adam --rounds 6"; do
  run 2 "${Q[@]}" $extra >"$work/fedopt.txt" 2>&1 || fail "fedavg $extra failed: $(tail -5 "$work/fedopt.txt")"
  got=$(test_error "$work/fedopt.txt")
  echo "fedavg -np 2 $extra: test error $got% (fault-free -np 4: $clean%)"
  awk -v a="${got:-100}" 'BEGIN { exit !(a <= 20) }' || fail "fedavg $extra: test error $got% > 20%"
done
mpirun -np 1 "$DIGITNET" mlp --data "$DATA" --hidden 32 --threads 1 --train-size 500 --distributed fedavg --rounds 1 \
  --server-adam --prox-mu 0.5 >"$work/fedopt_head.txt" 2>&1 || fail "fedavg -np 1 --server-adam failed"
grep -q "FedProx mu 0.5, server Adam (beta1 0.9, beta2 0.99, tau 0.001), server lr 0.01" "$work/fedopt_head.txt" ||
  fail "fedavg --server-adam: the header does not name FedProx and the server optimiser"

# --- divergence on the ranks is agreed on: every rank stops with exit 5, none waits forever
rc=0
timeout 120 mpirun -np 2 "$DIGITNET" mlp --data "$DATA" --threads 1 --quiet --train-size 1000 --hidden 300,100 \
  --lr 1e6 --distributed sync --epochs 2 >/dev/null 2>&1 || rc=$?
[ $rc = 5 ] || fail "sync with a diverging loss: expected exit 5, got $rc"

# --- usage errors (exit 2), before any training
expect_usage() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; [ $rc = 2 ] || fail "expected exit 2, got $rc: ${*:2}"; }
expect_usage run 4 "${Q[@]}" --aggregate krum --faulty 1             # 4 ≤ 2f + 2
expect_usage run 2 --distributed sync --fault-rank 1 --fault nan     # faults test fedavg's rules
expect_usage run 2 --distributed sync --validation 100
expect_usage "$DIGITNET" mlp "${net[@]}" --rounds 3                  # no --distributed
expect_usage run 2 "${Q[@]}" --fault-rank 2 --fault nan              # no rank 2 in a job of 2
expect_usage run 2 --distributed sync --prox-mu 0.1                  # FedProx and server optimisers: fedavg only
expect_usage "$DIGITNET" mlp "${net[@]}" --server-adam
expect_usage run 2 "${Q[@]}" --server-adam --server-momentum 0.9     # one server optimiser
said=$("$DIGITNET" mlp "${net[@]}" --server-lr 0.1 2>&1 || true)
grep -q "apply to --distributed fedavg" <<<"$said" || fail "--server-lr without fedavg: no clear message: $said"
help=$("$DIGITNET" mlp --help)
grep -q -- "--server-adam" <<<"$help" || fail "mlp --help does not list --server-adam"

[ $failures = 0 ] && echo "cli_mpi_mlp: all passed" || { echo "cli_mpi_mlp: $failures failed"; exit 1; }
