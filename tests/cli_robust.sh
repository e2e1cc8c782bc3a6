#!/usr/bin/env bash
# cli_robust.sh — adversaries among virtual clients from the command line:
#   `digitnet mlp --distributed fedavg --clients K --attack KIND --malicious F
#   --detect METHOD`: the header's attack and detection line, each row's
#   verdict, the metrics' columns (malicious, flagged, TP, FP, FN, banned,
#   consistent with each other), the closing "detection: precision P recall
#   R (TP, FP, FN)" line equal to the sums of the rows, --scores (one line
#   per client scored, flags as the rows count them) and --score-map (an SVG
#   with a cell per client and round, the malicious clients marked);
#   a boosted attack (scale:100) flagged exactly by the norm detector;
#   label-flip with detection and bans: the same saved model under mpirun -np 2 as in one process;
#   the new rules from the command line (multi-Krum, clip, FLTrust with its
#   root set); the flags' refusals (exit 2, one line);
#   a slice of `digitnet reproduce --experiment robust` (one attack, three
#   defences, few rounds on part of MNIST): its report, tables, reading,
#   curves and heat map; --report-only rewrites the same tables from the result files.
# Skipped (77) without MNIST.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")

source "$(dirname "$0")/lib/mpi_env.sh"
dn_mpi_one_thread

[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "cli_robust: no MNIST in $DATA, skipped"; exit 77; }
source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_robust

net=(--data "$DATA" --hidden 32 --threads 1)
A=(--distributed fedavg --clients 20 --client-fraction 0.5 --rounds 3 --train-size 2000)

# --- a boosted attack, the norm detector: exactly the malicious clients are flagged
"$DIGITNET" mlp "${net[@]}" "${A[@]}" --attack scale:100 --malicious 0.2 --detect norm --detect-threshold 10 \
  --metrics "$work/boost.csv" --scores "$work/scores.csv" --score-map "$work/map.svg" >"$work/boost.txt" ||
  fail "the boosted run failed: $(tail -3 "$work/boost.txt")"
grep -q "^attack scale:100 by 4 of the 20 clients (--malicious 0.2); detection norm, threshold 10$" "$work/boost.txt" ||
  fail "no attack line: $(sed -n 2,4p "$work/boost.txt")"
head -1 "$work/boost.csv" | grep -q ",clients_dropped_out,malicious,flagged,true_positives,false_positives,false_negatives,banned$" ||
  fail "metrics header: $(head -1 "$work/boost.csv")"
# columns 16-21: malicious flagged TP FP FN banned; exact detection: flagged = TP = malicious, FP = FN = 0
awk -F, 'NR > 1 && !($17 == $16 && $18 == $16 && $19 == 0 && $20 == 0) { bad = 1 } END { exit bad }' "$work/boost.csv" ||
  fail "not exactly the malicious flagged: $(cat "$work/boost.csv")"
tp=$(awk -F, 'NR > 1 { s += $18 } END { print s }' "$work/boost.csv")
[ "$tp" -gt 0 ] || fail "no malicious client sampled in 3 rounds of 10 of 20 clients: $(cat "$work/boost.csv")"
grep -q "^detection: precision 1.000 recall 1.000 (TP $tp, FP 0, FN 0)$" "$work/boost.txt" ||
  fail "detection line: $(grep detection: "$work/boost.txt")"
grep -Eq '^ +1 .*flagged [0-9]+ of 10 \([0-9]+ malicious\): TP [0-9]+ FP 0 FN 0' "$work/boost.txt" ||
  fail "round 1's row: $(sed -n 6p "$work/boost.txt")"
# --scores: 10 scored a round, their flags sum to the TPs; --score-map: 20 × 3 cells, 4 marks
[ "$(head -1 "$work/scores.csv")" = "round,client,malicious,score,flagged" ] || fail "scores header"
[ "$(tail -n +2 "$work/scores.csv" | wc -l)" = 30 ] || fail "scores: expected 30 lines, got $(tail -n +2 "$work/scores.csv" | wc -l)"
[ "$(awk -F, 'NR > 1 && $5 == 1 && $3 == 1 { n++ } END { print n + 0 }' "$work/scores.csv")" = "$tp" ] ||
  fail "scores: the flagged malicious lines are not the TPs"
[ "$(grep -o 'class="cell' "$work/map.svg" | wc -l)" = 60 ] || fail "score map: expected 60 cells"
[ "$(grep -o 'class="mark"' "$work/map.svg" | wc -l)" = 4 ] || fail "score map: expected 4 marked clients"
grep -q "score map: $work/map.svg" "$work/boost.txt" || fail "the map's path is not said"

# --- label-flip against the cosine detector with bans: runs, counts add up
"$DIGITNET" mlp "${net[@]}" "${A[@]}" --attack label-flip --malicious 0.3 --detect cosine --reputation 1 \
  --metrics "$work/flip.csv" >"$work/flip.txt" || fail "label-flip run failed: $(tail -3 "$work/flip.txt")"
awk -F, 'NR > 1 && !($18 + $20 == $16 && $18 + $19 == $17) { bad = 1 } END { exit bad }' "$work/flip.csv" ||
  fail "TP + FN != malicious or TP + FP != flagged: $(cat "$work/flip.csv")"

# --- the same model under mpirun -np 2 (attacks applied on rank 0, label-flip trained wherever the client runs,
#     bans known to rank 0 alone): P-independence holds with adversaries too
if command -v mpirun >/dev/null && "$DIGITNET" --version | grep -qw mpi; then
  L=(--attack label-flip --malicious 0.3 --detect krum --reputation 1 --quiet)
  "$DIGITNET" mlp "${net[@]}" "${A[@]}" "${L[@]}" --save "$work/np0.st" >/dev/null || fail "label-flip, one process"
  mpirun -np 2 "$DIGITNET" mlp "${net[@]}" "${A[@]}" "${L[@]}" --save "$work/np2.st" >"$work/np2.txt" 2>&1 ||
    fail "label-flip under mpirun -np 2 failed: $(tail -3 "$work/np2.txt")"
  cmp -s "$work/np0.st" "$work/np2.st" || fail "label-flip + detection + bans: mpirun -np 2 differs from one process"
else
  echo "cli_robust: no mpirun or a build without MPI, the mpirun part skipped"
fi

# --- the new rules
"$DIGITNET" mlp "${net[@]}" "${A[@]}" --aggregate krum --faulty 1 --krum-select 3 --attack sign-flip --malicious 0.2 \
  >"$work/krum.txt" || fail "multi-Krum failed: $(tail -3 "$work/krum.txt")"
grep -q "aggregate krum (f = 1) (multi-Krum, M = 3)" "$work/krum.txt" || fail "multi-Krum header: $(sed -n 3p "$work/krum.txt")"
"$DIGITNET" mlp "${net[@]}" "${A[@]}" --aggregate clip --attack scale:10 --malicious 0.2 >"$work/clip.txt" ||
  fail "clip failed: $(tail -3 "$work/clip.txt")"
"$DIGITNET" mlp "${net[@]}" "${A[@]}" --aggregate fltrust --root-size 100 --attack sign-flip --malicious 0.2 \
  >"$work/fltrust.txt" || fail "fltrust failed: $(tail -3 "$work/fltrust.txt")"
grep -q "root set 100 samples" "$work/fltrust.txt" || fail "fltrust header: $(sed -n 3p "$work/fltrust.txt")"
grep -q "of the first 1900 training samples" "$work/fltrust.txt" || fail "the root set is not out of the clients' data"

# --- refusals: exit 2 and one line
refused() {
  local want=$1 rc=0; shift
  "$DIGITNET" mlp "${net[@]}" --train-size 2000 "$@" >/dev/null 2>"$work/err.txt" || rc=$?
  [ $rc = 2 ] || fail "expected exit 2, got $rc: $*"
  [ "$(wc -l <"$work/err.txt")" = 1 ] || fail "not one line: $*: $(cat "$work/err.txt")"
  grep -q -- "$want" "$work/err.txt" || fail "$*: the message does not say '$want': $(cat "$work/err.txt")"
}
refused "need --distributed fedavg --clients" --distributed fedavg --attack scale:10 --malicious 0.2
refused "needs --malicious" "${A[@]}" --attack scale:10
refused "needs --attack" "${A[@]}" --malicious 0.2
refused "label-flip, sign-flip" "${A[@]}" --attack bogus --malicious 0.2
refused "scale:S" "${A[@]}" --attack scale:x --malicious 0.2
refused "malicious" "${A[@]}" --attack zero --malicious 1
refused "need --detect" "${A[@]}" --reputation 2
refused "need --detect" "${A[@]}" --score-map m.svg
refused "--root-size" "${A[@]}" --aggregate fltrust
refused "--root-size" "${A[@]}" --detect fltrust
refused "applies to --aggregate fltrust" "${A[@]}" --root-size 10
refused "applies to --aggregate krum" "${A[@]}" --krum-select 3
refused "applies to --aggregate clip" "${A[@]}" --clip 1
refused "valid: none, krum, cosine, norm, fltrust" "${A[@]}" --detect magic
refused "leaves no sample" "${A[@]}" --aggregate fltrust --root-size 2000

# --- an output folder that does not exist: refused before any training (exit 4, the flag and the folder named)
rc=0
"$DIGITNET" mlp "${net[@]}" "${A[@]}" --attack scale:10 --malicious 0.2 --detect norm --scores "$work/none/s.csv" \
  >"$work/out.txt" 2>"$work/err.txt" || rc=$?
[ $rc = 4 ] || fail "--scores into a missing folder: expected exit 4, got $rc"
grep -q -- "--scores $work/none/s.csv: folder '$work/none' does not exist" "$work/err.txt" || fail "message: $(cat "$work/err.txt")"
[ ! -s "$work/out.txt" ] || fail "it trained before refusing: $(cat "$work/out.txt")"

# --- the reproduction's slice: one attack, three defences
"$DIGITNET" reproduce --experiment robust --data "$DATA" --out "$work/robust" --attacks scale:10 \
  --defences mean,median,mean+detect --detector norm --fractions 0.2 --partitions iid --rounds 3 --train-size 6000 \
  --jobs 2 --quiet >"$work/robust.txt" || fail "reproduce --experiment robust failed: $(tail -3 "$work/robust.txt")"
[ -s "$work/robust/report.md" ] && [ -s "$work/robust/report.html" ] || fail "no report"
grep -q "^| scale:10 |" "$work/robust/report.md" || fail "no scale:10 row in the table"
grep -q "Reading: iid, 20 % malicious" "$work/robust/report.md" || fail "no reading"
grep -q "\*\*scale:10\*\*: best " "$work/robust/report.md" || fail "the reading does not name the best defence"
[ "$(ls "$work/robust"/*.result | wc -l)" = 6 ] || fail "expected 6 runs (3 baselines, 3 attacked)"
[ -s "$work/robust/curves_iid_0.svg" ] || fail "no curves"
[ -s "$work/robust/iid_scale-10_F0.2_mean-detect_scores.svg" ] || fail "no heat map: $(ls "$work/robust")"
grep -q "iid_scale-10_F0.2_mean-detect_scores.svg" "$work/robust/report.md" || fail "the heat map is not in the report"
cp "$work/robust/report.md" "$work/trained.md"
"$DIGITNET" reproduce --experiment robust --data "$DATA" --out "$work/robust" --attacks scale:10 \
  --defences mean,median,mean+detect --detector norm --fractions 0.2 --partitions iid --rounds 3 --report-only \
  --quiet >/dev/null || fail "--report-only failed"
grep -q "Written with --report-only from the result files of an earlier run: 6 runs" "$work/robust/report.md" ||
  fail "--report-only does not say so"
diff <(grep '^|' "$work/trained.md") <(grep '^|' "$work/robust/report.md") >/dev/null ||
  fail "--report-only's tables differ from the trained run's"
rc=0
"$DIGITNET" reproduce --experiment robust --data "$DATA" --out "$work/bad" --defences mean,magic >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "an unknown defence: expected exit 2, got $rc"
[ ! -e "$work/bad" ] || fail "a refused reproduction left its folder"

[ $failures = 0 ] && echo "cli_robust: all passed" || { echo "cli_robust: $failures failed"; exit 1; }
