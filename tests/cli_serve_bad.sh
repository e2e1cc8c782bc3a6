#!/usr/bin/env bash
# cli_serve_bad.sh — `digitnet serve` under bad requests and bad starts.
# Requests (tests/lib/serve_check.py bad): a truncated PNG, 783 raw bytes,
# 784 bytes not sent as application/octet-stream, a blank image, an empty
# body, an unknown model, a repeated query parameter, a negative,
# non-numeric, out-of-range or missing layer: 400; an unknown path or static
# file, /api/events without a run: 404; a wrong method: 405; a 10 MB body:
# 413 at once from its Content-Length, and 413 when sent chunked; each with
# a JSON body whose "error" names the problem, and the server answers the
# next request. An upload that never finishes its body does not hold up
# other requests and is dropped after the idle timeout (10 s).
# Starts: a missing model file, a corrupt one, an address in use and a
# malformed --bind each fail at once with one line naming the problem.
# Skipped (77) without MNIST or without libmicrohttpd (cli_serve_api checks
# that serve is then refused).
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
SRC=$(realpath "${DN_SOURCE_DIR:-$(dirname "$0")/..}")
export DN_SOURCE_DIR=$SRC
PY=/usr/bin/python3
source "$SRC/tests/lib/workdir.sh"
source "$SRC/tests/lib/serve.sh"
dn_workdir cli_serve_bad

"$DIGITNET" --version | grep -qw http || { echo "cli_serve_bad: built without libmicrohttpd, skipped"; exit 77; }
[ -e "$DATA/t10k-images-idx3-ubyte" ] || [ -e "$DATA/t10k-images-idx3-ubyte.gz" ] ||
  { echo "cli_serve_bad: no MNIST in $DATA, skipped"; exit 77; }
images=$DATA/t10k-images-idx3-ubyte
[ -e "$images" ] || images=$images.gz

"$DIGITNET" mlp --data "$DATA" --train-size 1000 --epochs 1 --hidden 32,16 --threads 1 --quiet --save mlp.st >train.out 2>&1 ||
  { echo "FAIL: training: $(cat train.out)"; exit 1; }
"$DIGITNET" pta --data "$DATA" --train-size 1000 --max-epochs 1 --quiet --save pta.st >train.out 2>&1 ||
  { echo "FAIL: training: $(cat train.out)"; exit 1; }
"$PY" "$SRC/tests/lib/serve_check.py" pngs "$images" 1 png && cp png/0000.png good.png

# expect_start_fail TEXT ARGS...: serve ARGS exits non-zero at once, one line on stderr holding TEXT.
expect_start_fail() {
  local text=$1 rc=0
  shift
  timeout 10 "$DIGITNET" serve "$@" >start.out 2>start.err || rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then fail "serve $*: exit $rc, expected a failure"; return; fi
  grep -qF -- "$text" start.err || fail "serve $*: stderr lacks '$text': $(cat start.err)"
  [ "$(wc -l <start.err)" -eq 1 ] || fail "serve $*: $(wc -l <start.err) lines on stderr: $(cat start.err)"
  [ ! -s start.out ] || fail "serve $*: printed $(cat start.out)"
}
expect_start_fail "missing.st" missing.st --bind 127.0.0.1:0
head -c 100 mlp.st >corrupt.st
expect_start_fail "corrupt.st" mlp.st corrupt.st --bind 127.0.0.1:0
expect_start_fail "expected HOST:PORT" mlp.st --bind nonsense
expect_start_fail "expected HOST:PORT" mlp.st --bind 127.0.0.1:99999

if dn_serve_start mlp.st pta.st; then
  port=${url##*:}
  port=${port%/}
  expect_start_fail "Address already in use" mlp.st --bind "127.0.0.1:$port"
  "$PY" "$SRC/tests/lib/serve_check.py" bad "$url" . || fail "serve_check bad"
  dn_serve_stop
fi
[ "$failures" -eq 0 ] || { echo "cli_serve_bad: $failures failure(s)"; exit 1; }
echo "cli_serve_bad: ok"
