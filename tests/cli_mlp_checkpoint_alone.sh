#!/usr/bin/env bash
# A single-process `digitnet mlp --checkpoint` (and its --resume) never
# initialises MPI: the library runs it as a job of one on dn_comm_local.
# MPI_Init_thread is trapped (LD_PRELOAD of a stub that exits 99), so a run
# that reached it fails. Skipped without a C compiler or without MPI in the build.
set -euo pipefail
: "${DIGITNET:?}" "${DN_DATA:?}"
[ -f "$DN_DATA/train-images-idx3-ubyte" ] || { echo "cli_mlp_checkpoint_alone: no MNIST at $DN_DATA, skipped"; exit 77; }
command -v cc >/dev/null || { echo "cli_mlp_checkpoint_alone: no C compiler for the trap, skipped"; exit 77; }
"$DIGITNET" --version | grep -w mpi >/dev/null || { echo "cli_mlp_checkpoint_alone: built without MPI, skipped"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >trap.c <<'C'
#include <stdio.h>
#include <stdlib.h>
int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    (void)argc, (void)argv, (void)required, (void)provided;
    fputs("MPI_Init_thread called\n", stderr);
    exit(99);
}
C
cc -shared -fPIC -o trap.so trap.c
# An ASan build wants its runtime first in the list: the stub goes before it, harmlessly.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0"
run() { LD_PRELOAD="$work/trap.so" "$DIGITNET" mlp --data "$DN_DATA" --train-size 500 --hidden 16 --threads 1 --quiet "$@"; }

rc=0; run --epochs 1 --checkpoint a.ck >out.txt 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "mlp --checkpoint exited $rc: $(cat out.txt)"
[ -s a.ck ] || fail "no checkpoint written"
rc=0; run --epochs 2 --resume a.ck --checkpoint a.ck >out.txt 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "mlp --resume exited $rc: $(cat out.txt)"
# The trap works: a distributed run reaches MPI_Init_thread.
rc=0; run --epochs 1 --distributed sync >out.txt 2>&1 || rc=$?
[ "$rc" -eq 99 ] || fail "the trap did not catch MPI_Init_thread (exit $rc)"
echo "cli_mlp_checkpoint_alone: all checks passed"
