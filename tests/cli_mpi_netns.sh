#!/usr/bin/env bash
# cli_mpi_netns.sh — `digitnet mlp --distributed fedavg` across two "machines":
# two network namespaces on this host, joined by a veth pair with their own
# addresses in a private /24, and Open MPI told to use that subnet alone, as
# docs/distributed.md ("Across machines") runs it over real hosts:
#   node1 = namespace A (10.231.77.1) runs mpirun, which starts rank 0 itself;
#   node2 = namespace B (10.231.77.2) gets its Open MPI daemon (orted) through
#   --mca plm_rsh_agent, a stand-in for ssh that runs the command in B
#   (`ip netns exec B sh -c ...`) instead of on another host; orted starts rank 1.
# So nothing is shared but the file system: the control channel (mpirun <-> orted,
# oob_tcp_if_include) and the MPI data (btl tcp,self: no shared memory,
# btl_tcp_if_include) both cross the veth; each rank's PMIx server is its own
# node's daemon, reached over its own namespace's loopback.
# Checked:
#   the saved model is byte for byte, and the metrics but their seconds column
#   are, the same job's under a plain `mpirun -np 2` (shared memory, no namespaces);
#   each direction of the veth carried at least (model bytes × rounds): the
#   broadcast of the global model and the return of rank 1's;
#   with `tc netem delay 20ms` on both ends the result is the same again, and
#   the rounds (the metrics' seconds, rank 0's clock) took at least rounds × 20 ms
#   longer than without (each round waits for two crossings, the broadcast and
#   the return, so 40 ms each is the true floor: half of it leaves room for a
#   busy machine). Kernels built without netem (CONFIG_NET_SCH_NETEM, as on the
#   machine this was written on) get a token bucket instead, `tc tbf rate 8mbit`
#   on both ends, and the floor rounds × (model bytes − burst) / rate.
# A job that hangs (a rank that cannot reach the other) fails after 60 s.
# Skipped (77, the reason printed) without root, mpirun or an MPI build, Open
# MPI 4 (the launcher settings here are ORTE's: plm_rsh_agent, orted,
# oob_tcp_if_include; Open MPI 5's PRRTE names them otherwise), iproute2 (ip,
# tc), the permission to make namespaces and veths (containers often refuse
# it), or MNIST. Without netem and tbf only the slow-link part is left out,
# said on a line. The namespaces and veths carry this process's PID, so
# parallel runs do not collide (the addresses live only inside them); they are
# removed on any exit but SIGKILL.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DIGITNET=$(realpath "$DIGITNET")
DATA=$(realpath -m "${DN_DATA:-data/mnist}") # absolute: the test works in its scratch folder
PY=/usr/bin/python3

source "$(dirname "$0")/lib/mpi_env.sh"
dn_mpi_one_thread

skip() { echo "cli_mpi_netns: $*, skipped"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root (network namespaces need it)"
command -v mpirun >/dev/null || skip "mpirun not found"
"$DIGITNET" --version | grep -qw mpi || skip "this digitnet was built without MPI"
ompi=$(mpirun --version 2>/dev/null | sed -n 's/^mpirun (Open MPI) //p' | head -1)
[ "${ompi%%.*}" = 4 ] || skip "mpirun is not Open MPI 4 (${ompi:-$(mpirun --version 2>&1 | head -1)}); this test uses ORTE's settings"
command -v ip >/dev/null && command -v tc >/dev/null || skip "no ip or tc (iproute2)"
[ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ] || skip "no MNIST in $DATA"
[ -x "$PY" ] || { echo "cli_mpi_netns: $PY is missing (scripts/deps.sh test installs it)"; exit 1; }

source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_mpi_netns

nsA=dn$$a nsB=dn$$b vA=dnv$$a vB=dnv$$b # interface names: 15 characters at most
net=10.231.77 ipA=10.231.77.1 ipB=10.231.77.2
made=()
cleanup() {
  for ns in "${made[@]}"; do ip netns del "$ns" 2>/dev/null || true; done # takes its veth end, and so the pair
  ip link del "$vA" 2>/dev/null || true # a pair made but not yet moved
  dn_workdir_cleanup
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP # the EXIT trap then cleans up

ip netns add "$nsA" 2>"$work/why.txt" || skip "cannot make a network namespace ($(head -1 "$work/why.txt"))"
made+=("$nsA")
ip netns add "$nsB" 2>"$work/why.txt" || skip "cannot make a second network namespace ($(head -1 "$work/why.txt"))"
made+=("$nsB")
ip netns exec "$nsA" true 2>"$work/why.txt" || skip "cannot enter a network namespace ($(head -1 "$work/why.txt"))"
ip link add "$vA" type veth peer name "$vB" 2>"$work/why.txt" || skip "cannot make a veth pair ($(head -1 "$work/why.txt"))"
ip link set "$vA" netns "$nsA"
ip link set "$vB" netns "$nsB"
ip -n "$nsA" addr add "$ipA/24" dev "$vA"
ip -n "$nsB" addr add "$ipB/24" dev "$vB"
for ns in "$nsA" "$nsB"; do ip -n "$ns" link set lo up; done
ip -n "$nsA" link set "$vA" up
ip -n "$nsB" link set "$vB" up

# The hostfile names the two nodes by address; mpirun, in A, knows $ipA for its own.
printf '%s slots=1\n' "$ipA" "$ipB" >hosts
# The "ssh" to a node: Open MPI calls it as AGENT [options] HOST COMMAND..., the command for a shell.
cat >agent.sh <<EOF
#!/bin/bash
while [ "\${1#-}" != "\$1" ]; do shift; done
case \$1 in
  $ipA) ns=$nsA ;;
  $ipB) ns=$nsB ;;
  *) echo "agent.sh: no node \$1" >&2; exit 255 ;;
esac
shift
exec ip netns exec "\$ns" /bin/sh -c "\$*"
EOF
chmod +x agent.sh

job=(mlp --data "$DATA" --hidden 32 --threads 1 --quiet --distributed fedavg --train-size 2000 --rounds 3)
rounds=3
# across NAME: the job over the two namespaces; its wall time in ms in $ms.
across() {
  local t0 t1
  t0=$(date +%s%N)
  timeout -k 5 60 ip netns exec "$nsA" mpirun --hostfile hosts --mca plm_rsh_agent "$work/agent.sh" \
    --mca btl tcp,self --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
    -np 2 "$DIGITNET" "${job[@]}" --save "$1.st" --metrics "$1.csv" >"$1.txt" 2>&1 ||
    fail "$1: the job over the namespaces failed: $(tail -5 "$1.txt")"
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
}
# bytes DIRECTION: rx or tx bytes of A's veth end, read inside A.
bytes() { ip netns exec "$nsA" cat "/sys/class/net/$vA/statistics/$1_bytes"; }
# but_seconds FILE: the metrics without their seconds column (found by its name).
but_seconds() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i }
  { out = ""; for (i = 1; i <= NF; i++) if (i != c) out = out (out == "" ? "" : ",") $i; print out }' "$1"; }
# same NAME: NAME's model and metrics (but seconds) are the plain run's.
same() {
  cmp -s plain.st "$1.st" || fail "$1: the model differs from the plain mpirun -np 2 run's"
  diff <(but_seconds plain.csv) <(but_seconds "$1.csv") >/dev/null ||
    fail "$1: the metrics differ from the plain run's: $(paste -d' ' plain.csv "$1.csv")"
}
# seconds NAME: the rounds' seconds, summed (rank 0's clock, each round from broadcast to aggregate).
seconds() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i; next } { s += $c }
  END { printf "%.4f", s }' "$1.csv"; }

# --- the reference: the same job on this host as usual (shared memory)
timeout -k 5 60 mpirun -np 2 "$DIGITNET" "${job[@]}" --save plain.st --metrics plain.csv >plain.txt 2>&1 ||
  { echo "FAIL: plain mpirun -np 2 failed: $(tail -5 plain.txt)"; exit 1; }
model=$("$PY" - plain.st <<'EOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
print(sum(t["data_offsets"][1] - t["data_offsets"][0] for k, t in json.loads(raw[8:8 + n]).items() if k != "__metadata__"))
EOF
)

# --- across the namespaces
rx0=$(bytes rx) tx0=$(bytes tx)
across veth
rx=$(($(bytes rx) - rx0)) tx=$(($(bytes tx) - tx0))
same veth
need=$((model * rounds))
echo "over the veth: $tx bytes A->B, $rx bytes B->A (model $model bytes x $rounds rounds = $need); $ms ms, rounds $(seconds veth) s"
[ "$tx" -ge "$need" ] || fail "A->B carried $tx bytes, under the $need of $rounds broadcasts of the model"
[ "$rx" -ge "$need" ] || fail "B->A carried $rx bytes, under the $need of $rounds models returned"

# --- a slower link: netem's 20 ms each way; where the kernel has no netem, a token bucket (tbf) of
#     1 MB/s each way. The floor is half the least that the rounds' crossings add: netem, a broadcast
#     and a return per round, each delay_ms later; tbf, both carry (model - burst) bytes at the rate.
delay_ms=20 rate=1000000 burst=10240 # rate in bytes/s (8mbit), burst in bytes (10kb)
shaped=
if ip netns exec "$nsA" tc qdisc add dev "$vA" root netem delay ${delay_ms}ms 2>"$work/why.txt"; then
  ip netns exec "$nsB" tc qdisc add dev "$vB" root netem delay ${delay_ms}ms
  shaped="netem delay $delay_ms ms each way"
  floor=$(awk -v r=$rounds -v d=$delay_ms 'BEGIN { print r * d / 1000 }')
else
  echo "cli_mpi_netns: no netem qdisc ($(head -1 "$work/why.txt")), so tbf in its place"
  if ip netns exec "$nsA" tc qdisc add dev "$vA" root tbf rate 8mbit burst 10kb latency 2s 2>"$work/why.txt"; then
    ip netns exec "$nsB" tc qdisc add dev "$vB" root tbf rate 8mbit burst 10kb latency 2s
    shaped="tbf rate 8mbit each way"
    floor=$(awk -v r=$rounds -v m="$model" -v b=$burst -v R=$rate 'BEGIN { print r * (m - b) / R }')
  else
    echo "cli_mpi_netns: no tbf qdisc either ($(head -1 "$work/why.txt")): the slow-link part skipped"
  fi
fi
if [ -n "$shaped" ]; then
  fast_ms=$ms
  across slow
  same slow
  echo "$shaped: $ms ms (without: $fast_ms ms), rounds $(seconds slow) s (without: $(seconds veth) s, floor +$floor s)"
  awk -v d="$(seconds slow)" -v p="$(seconds veth)" -v f="$floor" 'BEGIN { exit !(d - p >= f) }' ||
    fail "$shaped: the rounds took $(seconds slow) s, not $floor s more than the $(seconds veth) s without"
fi

[ $failures = 0 ] && echo "cli_mpi_netns: all passed" || { echo "cli_mpi_netns: $failures failed"; exit 1; }
