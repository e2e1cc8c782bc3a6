# serve.sh — sourced by the tests of `digitnet serve` (after workdir.sh):
# start a server on a free port, stop it as a user would.

serve_pid=
# dn_serve_start ARGS...: `digitnet serve ARGS --bind 127.0.0.1:0` in the
# background; sets url from the line it prints. Fails (and returns 1) when
# no such line comes within 10 s.
dn_serve_start() {
  "$DIGITNET" serve "$@" --bind 127.0.0.1:0 >serve.out 2>serve.err &
  serve_pid=$!
  trap 'dn_serve_kill; dn_workdir_cleanup' EXIT
  for _ in $(seq 100); do
    url=$(sed -n 's|^digitnet serve: listening on \(http://127\.0\.0\.1:[0-9]*/\)$|\1|p' serve.out)
    [ -n "$url" ] && return 0
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "digitnet serve did not say where it listens: $(cat serve.out serve.err)"
  return 1
}

dn_serve_kill() { [ -z "$serve_pid" ] || kill -KILL "$serve_pid" 2>/dev/null || true; }

# dn_serve_stop: SIGINT; the server must exit 0 within 2 s, saying nothing on stderr.
dn_serve_stop() {
  kill -INT "$serve_pid"
  local t0=${EPOCHREALTIME/./} rc=0
  for _ in $(seq 20); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$serve_pid" 2>/dev/null; then
    fail "digitnet serve still runs 2 s after SIGINT"
    kill -KILL "$serve_pid"
  fi
  wait "$serve_pid" || rc=$?
  serve_pid=
  [ "$rc" -eq 0 ] || fail "digitnet serve exited $rc after SIGINT: $(head -c 2000 serve.err)"
  [ ! -s serve.err ] || fail "digitnet serve wrote to stderr: $(head -c 2000 serve.err)"
  echo "serve: stopped by SIGINT in $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms, exit $rc"
}
