#!/usr/bin/env bash
# Single-process MLP checkpoints: a checkpointed run saves the same model as a plain one, and a
# run stopped after 1 epoch and resumed to 3 ends with the model of an uninterrupted 3-epoch run,
# also with dropout, max-norm, label smoothing, EMA, keep-best and patience.
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
# Regularised, with model selection on a validation set (dropout, max-norm, label smoothing, EMA,
# keep-best, patience): the same three comparisons. The checkpoint keeps the options, the EMA
# shadow, the best epoch and its weights, and the count since; dropout's masks need no state.
reg=(--validation 400 --dropout 0.2,0.5 --max-norm 2 --label-smoothing 0.1 --ema 0.9 --keep-best --patience 5)
run --epochs 3 "${reg[@]}" --save reg_plain.st
run --epochs 3 "${reg[@]}" --save reg_checkpointed.st --checkpoint reg_every.ck
cmp -s reg_plain.st reg_checkpointed.st || fail "regularised: checkpointing changed the model"
run --epochs 1 "${reg[@]}" --checkpoint reg_stopped.ck
"$DIGITNET" mlp --data "$DN_DATA" --train-size 2000 --hidden 64 --schedule none --quiet --epochs 3 "${reg[@]}" \
  --resume reg_stopped.ck --save reg_resumed.st >reg_out.txt
cmp -s reg_plain.st reg_resumed.st || fail "regularised: 1 epoch + resume to 3 differs from 3 straight epochs"
grep -q "^kept the weights of epoch [1-3] (validation accuracy 0\.[0-9]*)" reg_out.txt ||
  fail "regularised: no 'kept the weights of epoch' line: $(cat reg_out.txt)"
cmp -s plain.st reg_plain.st && fail "guard: the regularised run gave the plain model"
rc=0
run --epochs 3 --validation 400 --dropout 0.2,0.4 --max-norm 2 --label-smoothing 0.1 --ema 0.9 --keep-best \
  --patience 5 --resume reg_stopped.ck 2>err.txt || rc=$?
[ "$rc" = 3 ] && grep -q "dropout_hidden 0.5, this one has 0.4" err.txt ||
  fail "a resume with another dropout rate: exit $rc, $(cat err.txt)"
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
