#!/usr/bin/env bash
# Single-process MLP checkpoints: a checkpointed run saves the same model as a plain one, and a
# run stopped after 1 epoch and resumed to 3 ends with the model of an uninterrupted 3-epoch run.
# (A constant learning rate: a cosine schedule over 1 epoch anneals differently by design.)
skipped_parts=0
set -euo pipefail
: "${DIGITNET:?}" "${DN_DATA:?}"
if [ "${DN_SANITIZED:-0}" = 1 ]; then export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"; fi # Open MPI's own allocations
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { "$DIGITNET" mlp --data "$DN_DATA" --train-size 2000 --hidden 64 --schedule none --quiet "$@" >/dev/null; }

run --epochs 3 --save plain.st
run --epochs 3 --save checkpointed.st --checkpoint every.ck
cmp -s plain.st checkpointed.st || fail "checkpointing changed the model"
run --epochs 1 --checkpoint stopped.ck
run --epochs 3 --resume stopped.ck --save resumed.st
cmp -s plain.st resumed.st || fail "1 epoch + resume to 3 differs from 3 straight epochs"
run --epochs 2 --save two.st
cmp -s plain.st two.st && fail "guard: 2 epochs gave the 3-epoch model, the comparison proves nothing"
# Disk full: the write of the next checkpoint fails (exit 4, a message naming the file) and the
# previous checkpoint stays whole, no temporary file left. A 600 KiB tmpfs holds one checkpoint
# of this network (~410 KB with its momentum buffer) but not a second beside it.
mkdir full
if mount -t tmpfs -o size=600k tmpfs full 2>/dev/null; then
  trap 'umount "$work/full" 2>/dev/null; rm -rf "$work"' EXIT
  run --epochs 1 --checkpoint full/ck || fail "the first checkpoint did not fit in the small folder"
  cp full/ck before.ck
  rc=0
  run --epochs 2 --resume full/ck --checkpoint full/ck 2>err.txt || rc=$?
  [ "$rc" = 4 ] || fail "disk full: exit $rc, expected 4: $(cat err.txt)"
  grep -q "full/ck" err.txt || fail "disk full: the message does not name the file: $(cat err.txt)"
  cmp -s full/ck before.ck || fail "disk full: the previous checkpoint was changed"
  ! ls full/*.tmp.* >/dev/null 2>&1 || fail "disk full: a temporary file was left behind"
  echo "disk full: refused with exit 4 ($(head -c 160 err.txt)), the previous checkpoint intact"
else
  skipped_parts=$((skipped_parts + 1))
  echo "SKIP: disk full (mounting a tmpfs is not permitted here)"
fi
[ "$skipped_parts" -eq 0 ] || { echo "cli_mlp_checkpoint: passed, $skipped_parts part(s) skipped (SKIP above)"; exit 77; }
echo "cli_mlp_checkpoint: all checks passed"
