#!/usr/bin/env bash
# cli_vclients.sh — `digitnet mlp --distributed fedavg --clients K`: federated
# averaging over K virtual clients of a partition (dn_fedavg_clients_round
# through the library's run loop):
#   the same saved model, byte for byte, in one process without mpirun (a
#   job of one), under mpirun -np 1 and under mpirun -np 2 (the library's
#   P-independence); a partition file (`digitnet partition`) gives the model
#   of the same spec made in the run; the partition line, the per-round
#   clients column and the metrics' columns (test_loss, bytes_sent,
#   bytes_received = clients × parameters × 4, clients_sampled ...);
#   stragglers and drop-outs: the counts in the rows and the CSV, the same
#   bytes under mpirun -np 2, a round nobody reports keeps the model and
#   says so; a stop and resume from the checkpoint ends with the
#   uninterrupted model, and a resume with another fraction is refused
#   (exit 3, naming both job descriptions);
#   the flags' refusals (exit 2, one line).
# Skipped (77) without MNIST; the mpirun parts are skipped without mpirun or MPI.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}") # absolute: the test works in its scratch folder

source "$(dirname "$0")/lib/mpi_env.sh"
dn_mpi_one_thread

[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_vclients: no MNIST in $DATA, skipped"; exit 77; }
source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_vclients

net=(--data "$DATA" --hidden 32 --threads 1)
V=(--distributed fedavg --clients 10 --client-fraction 0.3 --partition shards:2 --rounds 3 --train-size 2000)

# --- one process, without mpirun
"$DIGITNET" mlp "${net[@]}" "${V[@]}" --save "$work/alone.st" --metrics "$work/alone.csv" >"$work/alone.txt" ||
  fail "one process failed: $(tail -3 "$work/alone.txt")"
grep -q "^partition: shards:2 of the first 2000 training samples over 10 clients (seed 1), sizes 200 to 200; C = 0.3: 3 clients per round over 1 rank$" \
  "$work/alone.txt" || fail "no partition line: $(head -3 "$work/alone.txt")"
grep -Eq '^ +3 .* 3/3 ' "$work/alone.txt" || fail "round 3 does not say 3/3 clients: $(tail -4 "$work/alone.txt")"
head -1 "$work/alone.csv" | grep -q "^round,test_error,test_accuracy,test_loss,train_loss,.*,seconds,bytes_sent,bytes_received,clients_sampled,clients_reported,clients_straggling,clients_dropped_out$" ||
  fail "metrics header: $(head -1 "$work/alone.csv")"
params=$(( (784 * 32 + 32) + (32 * 10 + 10) )) # 784-32-10: every model sent or received is params × 4 bytes
[ "$(tail -1 "$work/alone.csv" | cut -d, -f1,10-15)" = "3,$((3 * params * 4)),$((3 * params * 4)),3,3,0,0" ] ||
  fail "metrics row: $(tail -1 "$work/alone.csv")"

# --- stragglers and drop-outs: 10 clients a round, 3 stragglers dropped, each client gone with probability 0.3
H=(--distributed fedavg --clients 20 --client-fraction 0.5 --rounds 4 --train-size 2000 --stragglers 0.3 --dropout-rate 0.3)
"$DIGITNET" mlp "${net[@]}" "${H[@]}" --save "$work/het.st" --metrics "$work/het.csv" >"$work/het.txt" ||
  fail "stragglers and drop-outs failed: $(tail -3 "$work/het.txt")"
grep -q "stragglers 0.3 (drop), dropout rate 0.3" "$work/het.txt" || fail "header: $(sed -n 3p "$work/het.txt")"
awk -F, -v p=$params 'NR > 1 && !($14 == 3 && $13 + $14 + $15 >= 10 && $13 + $15 <= 10 && $10 == 10 * p * 4 &&
  $11 == $13 * p * 4) { bad = 1 } END { exit bad }' "$work/het.csv" || fail "straggler counts: $(cat "$work/het.csv")"
grep -Eq '^ +1 .* [0-9]+/10  3 stragglers \(drop\), [0-9]+ dropped out$' "$work/het.txt" ||
  fail "round 1's row does not count them: $(sed -n 5p "$work/het.txt")"
"$DIGITNET" mlp "${net[@]}" --distributed fedavg --clients 20 --rounds 2 --train-size 2000 --dropout-rate 1 \
  --save "$work/nobody.st" --metrics "$work/nobody.csv" >"$work/nobody.txt" 2>"$work/nobody.err" ||
  fail "a run nobody reports to failed (it should keep its model): $(cat "$work/nobody.err")"
grep -q "round 2: no client reported (all 20 sampled dropped out): previous model kept" "$work/nobody.err" ||
  fail "nobody reported, not said: $(cat "$work/nobody.err")"
[ "$(cut -d, -f6,13 "$work/nobody.csv" | tail -2 | tr '\n' ' ')" = "1,0 1,0 " ] ||
  fail "nobody reported: refused and 0 reported expected: $(cat "$work/nobody.csv")"

# --- without --clients the output keeps its columns
"$DIGITNET" mlp "${net[@]}" --distributed fedavg --rounds 1 --train-size 500 --metrics "$work/plain.csv" >"$work/plain.txt" ||
  fail "fedavg without clients failed"
grep -q clients "$work/plain.csv" "$work/plain.txt" && fail "clients columns without --clients"

# --- a partition file gives the run of the same spec made in place
"$DIGITNET" partition --data "$DATA" --clients 10 --partition shards:2 --train-size 2000 --seed 1 --out "$work/p" >/dev/null ||
  fail "digitnet partition failed"
"$DIGITNET" mlp "${net[@]}" --distributed fedavg --client-fraction 0.3 --partition-file "$work/p/partition.safetensors" \
  --rounds 3 --train-size 2000 --quiet --save "$work/file.st" >/dev/null || fail "--partition-file failed"
cmp -s "$work/alone.st" "$work/file.st" || fail "--partition-file differs from --partition shards:2 made in the run"

# --- killed after round 2 (its checkpoint written), resumed: the uninterrupted model; another C is refused
rc=0 # DN_TEST_KILL_AT: the process kills itself right after round 2 and its checkpoint
(DN_TEST_KILL_AT=0:2 exec "$DIGITNET" mlp "${net[@]}" "${V[@]}" --quiet --checkpoint "$work/ck2" >/dev/null 2>&1) 2>/dev/null || rc=$?
[ $rc = 137 ] || fail "DN_TEST_KILL_AT=0:2: expected death by SIGKILL (137), got $rc"
rc=0
"$DIGITNET" mlp "${net[@]}" "${V[@]}" --client-fraction 0.5 --quiet --resume "$work/ck2" >/dev/null 2>"$work/refused.txt" || rc=$?
[ $rc = 3 ] || fail "resume with another --client-fraction: expected exit 3 (the checkpoint's job differs), got $rc"
grep -q "C:0.5" "$work/refused.txt" || fail "the refusal does not name the fraction: $(cat "$work/refused.txt")"
"$DIGITNET" mlp "${net[@]}" "${V[@]}" --quiet --resume "$work/ck2" --save "$work/resumed.st" >/dev/null ||
  fail "resume failed"
cmp -s "$work/alone.st" "$work/resumed.st" || fail "stop after 2 rounds + resume differs from the uninterrupted run"

# --- refusals: exit 2 and one line
refused() {
  local want=$1 rc=0; shift
  "$DIGITNET" mlp "${net[@]}" --train-size 2000 "$@" >/dev/null 2>"$work/err.txt" || rc=$?
  [ $rc = 2 ] || fail "expected exit 2, got $rc: $*"
  [ "$(wc -l <"$work/err.txt")" = 1 ] || fail "not one line: $*: $(cat "$work/err.txt")"
  grep -q -- "$want" "$work/err.txt" || fail "$*: the message does not say '$want': $(cat "$work/err.txt")"
}
refused "apply to --distributed fedavg" --clients 10
refused "apply to --distributed fedavg" --distributed sync --clients 10
refused "need --clients" --distributed fedavg --client-fraction 0.5
refused "need --clients" --distributed fedavg --partition iid
refused "client-fraction" --distributed fedavg --clients 10 --client-fraction 1.5
refused "clients" --distributed fedavg --clients 0
refused "--clients 3000" --distributed fedavg --clients 3000
refused "iid, shards:S, dirichlet:ALPHA" --distributed fedavg --clients 10 --partition foo
refused "shards:0" --distributed fedavg --clients 10 --partition shards:0
refused "pick one" --distributed fedavg --clients 10 --partition iid --partition-file "$work/p/partition.safetensors"
refused "records its seed" --distributed fedavg --partition-seed 3 --partition-file "$work/p/partition.safetensors"
refused "apply to one client per rank" --distributed fedavg --clients 10 --shard random
refused "apply to one client per rank" --distributed fedavg --clients 10 --fault-rank 0 --fault nan
refused "--train-size 1000" --distributed fedavg --partition-file "$work/p/partition.safetensors" --train-size 1000
refused "krum" --distributed fedavg --clients 10 --client-fraction 0.3 --aggregate krum --faulty 1
refused "need --clients" --distributed fedavg --stragglers 0.5
refused "need --clients" --distributed fedavg --dropout-rate 0.5
refused "apply to --distributed fedavg" --distributed sync --dropout-rate 0.5
refused "needs --stragglers" --distributed fedavg --clients 10 --straggler-policy partial
refused "stragglers" --distributed fedavg --clients 10 --stragglers 1.5
refused "valid: drop, partial" --distributed fedavg --clients 10 --stragglers 0.5 --straggler-policy later
help=$("$DIGITNET" mlp --help)
grep -q -- "--client-fraction" <<<"$help" || fail "mlp --help does not list --client-fraction"
grep -q "dirichlet:ALPHA" <<<"$help" || fail "mlp --help does not give the partition syntax"

# --- under mpirun: the same bytes for 1 and 2 ranks
if command -v mpirun >/dev/null && "$DIGITNET" --version | grep -qw mpi; then
  for np in 1 2; do
    mpirun -np $np "$DIGITNET" mlp "${net[@]}" "${V[@]}" --save "$work/np$np.st" >"$work/np$np.txt" 2>&1 ||
      fail "mpirun -np $np failed: $(tail -3 "$work/np$np.txt")"
    cmp -s "$work/alone.st" "$work/np$np.st" || fail "mpirun -np $np differs from one process"
  done
  mpirun -np 2 "$DIGITNET" mlp "${net[@]}" "${H[@]}" --quiet --save "$work/het2.st" >"$work/het2.txt" 2>&1 ||
    fail "mpirun -np 2 with stragglers failed: $(tail -3 "$work/het2.txt")"
  cmp -s "$work/het.st" "$work/het2.st" || fail "stragglers and drop-outs: mpirun -np 2 differs from one process"
  grep -q "3 clients per round over 2 ranks" "$work/np2.txt" || fail "-np 2: partition line: $(head -3 "$work/np2.txt")"
else
  echo "cli_vclients: no mpirun or a build without MPI, the mpirun part skipped"
fi

[ $failures = 0 ] && echo "cli_vclients: all passed" || { echo "cli_vclients: $failures failed"; exit 1; }
