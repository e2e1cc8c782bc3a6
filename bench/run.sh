#!/usr/bin/env bash
# make bench: every workload, digitnet and its peers side by side in one run, one table.
# Each piece prints "ROW\tworkload\timplementation\tmedian_s\tmin_s\tmax_s\tnote" lines
# (and "TARGET\tline" for a target it judges itself, printed with the targets below;
# "PHASE\tworkload\t..." for a per-phase breakdown, printed as its own table under the
# columns its "PHASEHEAD\tworkload\t..." line names);
# this script runs them one after the other (never two at once: 2 shared cores) and
# prints the table with each implementation's time as a ratio to digitnet's.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DN_DATA:-data/mnist}
reps=${BENCH_REPS:-7}
rows=$(mktemp); trap 'rm -f "$rows"' EXIT

py=/usr/bin/python3   # Debian's python3, where python3-numpy / torch / sklearn live
. bench/lib.sh
bench_header
echo "repetitions: median of $reps after a warm-up (min-max in brackets)"
echo

run_piece() { # name command...
  local name=$1; shift
  echo "... $name" >&2
  if ! "$@" > "$rows.piece" 2> "$rows.err"; then
    echo "bench: $name failed:" >&2; tail -5 "$rows.err" >&2; return 0
  fi
  grep -P '^(ROW|FLOOR|TARGET|PHASE|PHASEHEAD|MLPFLOOR|PAIRED)' "$rows.piece" >> "$rows" || true
}

run_piece "PTA, digitnet" build/bench/bench_pta "$data" "$reps"
run_piece "MLP, the matrix-multiply floor" build/bench/bench_sgemm_floor "$data" "$reps"
run_piece "PTA, numpy" "$py" bench/pta_numpy.py "$data" "${BENCH_PEER_REPS:-5}"
for piece in bench/bench_*.sh; do
  [ -x "$piece" ] && run_piece "$(basename "$piece" .sh)" "$piece" "$data" "$reps"
done

$py - "$rows" <<'PY'
import sys
rows, floors, floor_values, piece_targets, phases, mlp_floor, phase_heads = [], [], None, [], [], None, {}
paired = {}  # "mlp": (median ratio, min, max, pairs, the pairs' seconds)
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "ROW" and len(f) >= 7:
        rows.append((f[1], f[2], float(f[3]), float(f[4]), float(f[5]), f[6]))
    elif f[0] == "FLOOR":
        floors.append(f[1])
    elif f[0] == "TARGET":
        piece_targets.append(f[1])
    elif f[0] == "FLOORVALUE":
        floor_values = (float(f[1]), float(f[2]))
    elif f[0] == "MLPFLOOR":
        mlp_floor = (float(f[1]), float(f[2]))
    elif f[0] == "PHASE" and len(f) >= 3:
        phases.append(f[1:])
    elif f[0] == "PAIRED" and len(f) >= 7:
        paired[f[1]] = (float(f[2]), float(f[3]), float(f[4]), int(f[5]), f[6])
    elif f[0] == "PHASEHEAD" and len(f) >= 3:
        phase_heads[f[1]] = f[2:]
workloads = []
for r in rows:
    if r[0] not in workloads:
        workloads.append(r[0])
print(f"| workload | implementation | median s | [min - max] | ratio to digitnet | note |")
print(f"|---|---|---|---|---|---|")
def best(group, prefix):
    """The fastest row of group whose implementation starts with prefix."""
    found = [r for r in group if r[1].startswith(prefix)]
    return min(found, key=lambda r: r[2]) if found else None
for w in workloads:
    group = [r for r in rows if r[0] == w]
    ref = best(group, "digitnet")  # ratios are to digitnet's fastest setting
    for r in group:
        ratio = f"{r[2] / ref[2]:.1f}x" if ref and ref[2] > 0 else "-"
        print(f"| {w} | {r[1]} | {r[2]:.4f} | [{r[3]:.4f} - {r[4]:.4f}] | {ratio} | {r[5]} |")
if floors:
    print()
    for f in floors:
        print(f"floor: {f}")
if phases:  # each piece's breakdown under its own columns
    print()
    print("where the time goes, phase by phase:")
    print()
    for w in dict.fromkeys(p[0] for p in phases):
        mine = [p for p in phases if p[0] == w]
        head = ["workload"] + phase_heads.get(w, ["value"] * (len(mine[0]) - 1))
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for p in mine:
            print("| " + " | ".join(p) + " |")
        print()
# What a user sees beside what the benchmark sees: each "<setting>, from
# outside" row (the whole program's wall time, start-up and loading
# cancelled) against the in-process row of the same workload and setting
# ("digitnet --threads 2" is the row "digitnet" whose note starts "--threads 2").
def same_setting(q, setting):
    if q[1] == setting:
        return True
    head, _, flag = setting.partition(" --")
    return bool(flag) and q[1] == head and q[5].startswith("--" + flag)
for r in rows:
    if ", from outside" in r[1]:
        setting = r[1].split(", from outside")[0]
        inside = [q for q in rows if q[0] == r[0] and q is not r and same_setting(q, setting)]
        if inside:
            q = inside[0]
            print(f"from outside vs in-process, {r[0]}, {setting}: {r[2]:.4f} s vs {q[2]:.4f} s ({r[2] / q[2]:.2f}x)")

# The speed targets, each a ratio within this one run.
def group_of(prefix):
    return [r for r in rows if r[0].startswith(prefix)]
def target(name, value, goal, met):
    if value is not None:
        print(f"target: {name}: {value:.2f}x (goal {goal}): {'met' if met(value) else 'NOT met'}")
print()
pta = group_of("PTA epoch")
us = best(pta, "digitnet float32")
numpy_best = best(pta, "numpy best")
if us and numpy_best:
    target("PTA epoch, numpy best / digitnet", numpy_best[2] / us[2], ">= 100x", lambda v: v >= 100)
if us and floor_values:
    dense, sparse = floor_values
    target("PTA epoch, digitnet / the floor of the non-zero pixels", us[2] / sparse, "<= 2x", lambda v: v <= 2)
    print(f"(and {us[2] / dense:.2f}x the floor of the dense definition)")
mlp = group_of("mlp 784-300-100-10 epoch")
inproc = [r for r in mlp if r[1] == "digitnet"]
us = min(inproc, key=lambda r: r[2]) if inproc else None
torch, fann = best(mlp, "PyTorch"), best(mlp, "FANN")
if "mlp" in paired:  # judged on the interleaved pairs, the medians below beside it
    med, lo, hi, n, seconds = paired["mlp"]
    target(f"MLP epoch, PyTorch (its fastest setting) / digitnet --threads 2, the median of {n} interleaved pairs' ratios [{lo:.2f}-{hi:.2f}]",
           med, ">= 2.5x", lambda v: v >= 2.5)
    print(f"(the pairs, digitnet/PyTorch seconds: {seconds})")
    if us and torch:
        print(f"(the ratio of the medians above: {torch[2] / us[2]:.2f}x)")
elif us and torch:
    target("MLP epoch, PyTorch (its fastest setting) / digitnet", torch[2] / us[2], ">= 2.5x", lambda v: v >= 2.5)
host = group_of("on the host's BLAS kernels")
h_us, h_torch = best(host, "digitnet"), best(host, "PyTorch")
if h_us and h_torch:
    print(f"(on the host's BLAS kernels, {h_us[0].split(', ')[-1]}: PyTorch / digitnet {h_torch[2] / h_us[2]:.2f}x)")
if us and mlp_floor:
    target("MLP epoch, digitnet / the sgemm floor (the epoch's products alone, dense shapes)", us[2] / mlp_floor[0],
           "<= 3x", lambda v: v <= 3)
    print(f"(and {us[2] / mlp_floor[1]:.2f}x the floor at layer 0's used pixels, the products digitnet runs)")
if us and fann:
    target("MLP epoch, FANN / digitnet", fann[2] / us[2], ">= 50x", lambda v: v >= 50)
if inproc:
    import re
    rss = [int(m.group(1)) for r in inproc for m in [re.search(r"peak RSS (\d+) MiB", r[5])] if m]
    if rss:
        print(f"target: MLP epoch, digitnet peak RSS: {max(rss)} MiB (goal <= 100 MiB): {'met' if max(rss) <= 100 else 'NOT met'}")
to98 = group_of("mlp 784-300-100-10 time to 98%")
us, torch = best(to98, "digitnet"), best(to98, "PyTorch")
if us and torch:
    target(f"MLP time to 98% test accuracy, PyTorch ({torch[1]}) / digitnet ({us[1]}), each its best recipe",
           torch[2] / us[2], ">= 4x", lambda v: v >= 4)
for batch, goal in ((64, 1.6), (256, 1.8)):
    sync = group_of(f"mlp sync epoch 784-300-100-10 batch {batch}")
    one = [r for r in sync if r[1] == "digitnet sync 1 rank"]
    two = [r for r in sync if r[1] == "digitnet sync 2 ranks"]
    if one and two:
        target(f"sync data-parallel, batch {batch}, 2 ranks vs 1 (one thread each)", one[0][2] / two[0][2],
               f">= {goal}x", lambda v, g=goal: v >= g)
fed = group_of("fedavg 2NN client update")
us, torch = best(fed, "digitnet"), best(fed, "PyTorch")
if us and torch:
    target("fedavg client updates per second, digitnet / PyTorch (its fastest setting)", torch[2] / us[2], ">= 5x", lambda v: v >= 5)
detect = group_of("fedavg round with detection")
plain = best(detect, "digitnet, no detection")
for r in detect:
    if plain and r[1].startswith("digitnet, --detect"):
        target(f"fedavg round, {r[1][10:]} / no detection", r[2] / plain[2], "<= 1.2x", lambda v: v <= 1.2)
quick = best(group_of("fedavg quick reproduction"), "digitnet")
if quick:
    print(f"target: fedavg quick reproduction, wall time: {quick[2]:.0f} s (goal < 180 s): {'met' if quick[2] < 180 else 'NOT met'}")
if us:
    import re
    rss = re.search(r"peak RSS (\d+) MiB", us[5])
    if rss:
        mib = int(rss.group(1))
        print(f"target: fedavg 100-client simulation, digitnet peak RSS: {mib} MiB (goal <= 200 MiB): {'met' if mib <= 200 else 'NOT met'}")
for t in piece_targets:  # judged by the piece (bench_serve.sh: requests per second and p99 latency)
    print(f"target: {t}")
PY
