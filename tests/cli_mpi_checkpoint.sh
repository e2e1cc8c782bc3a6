#!/usr/bin/env bash
# cli_mpi_checkpoint.sh — a distributed run killed and resumed.
# MPI aborts the whole job when a rank dies; the checkpoint rank 0 wrote is
# the recovery. A rank is killed with SIGKILL mid-run (DN_TEST_KILL_AT=R:S,
# see cli/mlp_distributed.h), the job is resumed from the checkpoint, and
# the final model must equal an uninterrupted run's byte for byte
# (deterministic mode; Adam's moments, the epoch count and a faulty rank's
# random generator all travel in the checkpoint). A checkpoint from another
# job shape is refused. Skipped when Open MPI or MNIST is missing.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=${DN_DATA:-data/mnist}

source "$(dirname "$0")/lib/mpi_env.sh"
dn_mpi_one_thread

command -v mpirun >/dev/null || { echo "cli_mpi_checkpoint: mpirun not found, skipped"; exit 77; }
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_mpi_checkpoint: no MNIST in $DATA, skipped"; exit 77; }
# The build says which features it has; a failing run must fail the test, not skip it.
"$DIGITNET" --version | grep -w mpi >/dev/null || { echo "cli_mpi_checkpoint: this digitnet was built without MPI, skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dn_cli_mpi_ckpt_XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

net=(--data "$DATA" --hidden 32 --threads 1 --quiet --train-size 2000 --batch 50)
run() { local np=$1; shift; mpirun -np "$np" "$DIGITNET" mlp "${net[@]}" "$@"; }

# kill_and_resume NAME NP KILL_AT ARGS...: uninterrupted vs killed + resumed.
kill_and_resume() {
  local name=$1 np=$2 at=$3 rc=0; shift 3
  run "$np" "$@" --save "$work/$name.full.st" >/dev/null || fail "$name: uninterrupted run failed"
  DN_TEST_KILL_AT=$at run "$np" "$@" --checkpoint "$work/$name.ckpt" --checkpoint-every 1 \
    --save "$work/$name.never.st" >/dev/null 2>&1 || rc=$?
  [ $rc != 0 ] || fail "$name: the job survived a killed rank (exit 0)"
  [ -e "$work/$name.ckpt" ] || fail "$name: no checkpoint was written before the kill"
  [ ! -e "$work/$name.never.st" ] || fail "$name: the killed job still saved a final model"
  ls "$work"/*.tmp.* >/dev/null 2>&1 && fail "$name: a temporary checkpoint file was left behind"
  run "$np" "$@" --resume "$work/$name.ckpt" --save "$work/$name.resumed.st" --metrics "$work/$name.csv" >/dev/null ||
    fail "$name: resume failed"
  # Not vacuous: a run that ignored the checkpoint would train from the same seed to the same model.
  [ "$(sed -n 2p "$work/$name.csv" | cut -d, -f1)" = 3 ] || fail "$name: the resumed run did not start at step 3"
  cmp -s "$work/$name.full.st" "$work/$name.resumed.st" || fail "$name: resumed model differs from uninterrupted"
}

# sync, Adam (moments and step count are state), rank 1 dies after epoch 2 of 4
kill_and_resume sync 2 1:2 --distributed sync --deterministic --epochs 4 --optimizer adam --lr 0.005
# fedavg with a faulty rank drawing random models (its generator is state), rank 0 dies after round 2 of 4
kill_and_resume fedavg 3 0:2 --distributed fedavg --rounds 4 --aggregate median --fault-rank 2 --fault random

# a checkpoint only resumes the job shape and flags that wrote it (exit 3: bad input)
expect_input() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; [ $rc = 3 ] || fail "expected exit 3, got $rc: ${*:2}"; }
expect_input run 2 --distributed fedavg --rounds 4 --resume "$work/fedavg.ckpt"                     # 3 ranks wrote it
expect_input run 3 --distributed sync --epochs 4 --resume "$work/fedavg.ckpt"                       # another mode
expect_input run 2 --distributed sync --epochs 4 --hidden 16 --resume "$work/sync.ckpt"             # another network
expect_input run 2 --distributed sync --epochs 4 --resume "$work/sync.full.st"                      # a model, not a checkpoint
expect_input run 3 --distributed fedavg --rounds 4 --aggregate median --resume "$work/fedavg.ckpt"   # without its fault flags

[ $failures = 0 ] && echo "cli_mpi_checkpoint: all passed" || { echo "cli_mpi_checkpoint: $failures failed"; exit 1; }
