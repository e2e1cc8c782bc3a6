#!/usr/bin/env bash
# cli_browser.sh — the page of `digitnet serve` in a real browser: Debian's chromium,
# headless, driven by npm's puppeteer-core (scripts/fetch_puppeteer.sh puts it in
# .cache/puppeteer; it uses the installed chromium and downloads nothing).
# Trains a small MLP and a perceptron (or, without MNIST, imports fixed random ones),
# serves both on a free loopback port, and tests/browser/page_test.js loads the page,
# draws a seven with mouse events along a stroke path and checks what the page shows:
# the digit is the server's answer and the largest value, the ten bars hold the
# answer's probabilities (summing to 1; drawn as long as they are) and read them out,
# the first-layer weight images and heat strips are drawn, the top units ringed, Clear
# clears; then, the perceptron picked with the keyboard: its scores, ten templates
# (the predicted one ringed) and contribution map; nothing is fetched from elsewhere.
# Then each 28x28 image the page shows (the server's `input`) goes, as a one-image
# IDX file (no second preprocessing), to `digitnet predict --json`: the same digit and
# values as the page (1e-6).
# With MNIST, last, tests/browser/live_test.js watches `digitnet mlp --serve` train: rows
# arrive in the page's table while it is open, the curves follow, and once done the trained
# model answers a drawing.
# Screenshot and logs: $DN_BUILD_DIR/test-output/cli_browser/ (kept). With
# DN_DOC_SCREENSHOT=FILE it also writes the README's screenshot, made small with
# pngquant where installed (docs/serve-page.png: DN_DOC_SCREENSHOT=$PWD/docs/serve-page.png
# ctest -R cli_browser, in the build folder).
# Skipped (77) only without node or chromium; without puppeteer-core it fails.
set -uo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
DATA=$(realpath -m "${DN_DATA:-data/mnist}")
SRC=$(realpath "${DN_SOURCE_DIR:-$(dirname "$0")/..}")
PY=/usr/bin/python3
PUPPETEER=${DN_PUPPETEER:-$SRC/.cache/puppeteer}/node_modules/puppeteer-core
CHROMIUM=${DN_CHROMIUM:-$(command -v chromium || true)}
OUT=$(realpath -m "${DN_BUILD_DIR:-$(dirname "$DIGITNET")}/test-output/cli_browser")

command -v node >/dev/null || { echo "cli_browser: node is not installed, skipped (scripts/deps.sh test installs it)"; exit 77; }
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || { echo "cli_browser: chromium is not installed, skipped (scripts/deps.sh test installs it)"; exit 77; }
[ -f "$PUPPETEER/package.json" ] || { echo "FAIL: cli_browser needs puppeteer-core in $PUPPETEER: scripts/deps.sh test (scripts/fetch_puppeteer.sh) installs it"; exit 1; }
source "$SRC/tests/lib/workdir.sh"
dn_workdir cli_browser
rm -rf "$OUT" && mkdir -p "$OUT"

server=
stop_server() { # the test never leaves a server behind, whatever happened
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  server=
}
trap 'stop_server; dn_workdir_cleanup' EXIT

# ---- two small models: trained on MNIST, or fixed random weights imported without it
if [ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ]; then
  "$DIGITNET" mlp --data "$DATA" --train-size 3000 --epochs 2 --hidden 64,32 --threads 1 --quiet --save mlp.dnm >train.out 2>&1 &&
    "$DIGITNET" pta --data "$DATA" --train-size 3000 --max-epochs 3 --quiet --save pta.dnm >>train.out 2>&1 ||
    { echo "FAIL: training the models failed: $(tail -3 train.out)"; exit 1; }
else
  echo "cli_browser: no MNIST in $DATA: serving models of fixed random weights"
  "$PY" - <<'EOF' || { echo "FAIL: could not write random weights"; exit 1; }
import numpy as np, os
rng = np.random.default_rng(20)
os.makedirs("mlp.npy"); os.makedirs("pta.npy")
for k, (n_out, n_in) in enumerate([(64, 784), (32, 64), (10, 32)]):
    np.save(f"mlp.npy/layers.{k}.weight.npy", (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32))
    np.save(f"mlp.npy/layers.{k}.bias.npy", np.zeros(n_out, np.float32))
np.save("pta.npy/W.npy", rng.standard_normal((10, 784)))
EOF
  for m in mlp pta; do
    "$DIGITNET" import --npy $m.npy --out $m.dnm >import.out 2>&1 || { echo "FAIL: import failed: $(cat import.out)"; exit 1; }
  done
fi

# ---- the server, on a free port it names in its first line
"$DIGITNET" serve mlp.dnm pta.dnm --bind 127.0.0.1:0 >serve.out 2>serve.err &
server=$!
url=
for _ in $(seq 100); do
  url=$(sed -n 's|^digitnet serve: listening on \(http://[0-9.]*:[0-9]*/\)$|\1|p' serve.out)
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: digitnet serve did not say where it listens: $(cat serve.out serve.err | tail -5)"; exit 1; }
echo "cli_browser: digitnet serve listens on $url"

# ---- the page in chromium
failures=0
DN_PUPPETEER=$PUPPETEER DN_CHROMIUM=$CHROMIUM timeout 60 node "$SRC/tests/browser/page_test.js" "$url" "$OUT" ||
  fail "the page in chromium (above)"
if [ -n "${DN_DOC_SCREENSHOT:-}" ] && [ -s "$DN_DOC_SCREENSHOT" ] && command -v pngquant >/dev/null; then
  pngquant --force --skip-if-larger --strip --quality 60-90 --output "$DN_DOC_SCREENSHOT" -- "$DN_DOC_SCREENSHOT" ||
    echo "cli_browser: pngquant left $DN_DOC_SCREENSHOT as chromium wrote it"
fi
# SIGTERM: a clean stop, exit 0, within a few seconds (and, in the sanitizer build, no report)
if kill -TERM "$server" 2>/dev/null; then
  for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server" 2>/dev/null; then
    fail "digitnet serve still runs 5 s after SIGTERM"
  else
    wait "$server"; rc=$?; server=
    [ "$rc" -eq 0 ] || fail "digitnet serve exited $rc after SIGTERM: $(tail -5 serve.err)"
  fi
else
  fail "digitnet serve is gone after the page test: $(tail -5 serve.err)"
fi
stop_server

# ---- the same 28x28 image through the CLI: the same digit and values (a perceptron's: raw scores)
compare() { # compare NAME: the page's NAME.idx through `digitnet predict --json NAME.dnm`
  local name=$1
  [ -s "$OUT/$name.idx" ] && [ -s "$OUT/$name.json" ] || { fail "$name: the page test left no image to compare with digitnet predict"; return; }
  "$DIGITNET" predict --json "$name.dnm" "$OUT/$name.idx" >"$name.predict" 2>&1 || { fail "$name: digitnet predict failed: $(cat "$name.predict")"; return; }
  # {"input": NAME, "digit": D, "probabilities": [p0, ..., p9]} at %.9g, as the API prints them
  node -e '
    const fs = require("fs");
    const [name, shownFile, cliFile] = process.argv.slice(1);
    const shown = JSON.parse(fs.readFileSync(shownFile));
    let cli;
    try { cli = JSON.parse(fs.readFileSync(cliFile, "utf8")); } catch (e) {
      console.log(`FAIL: ${name}: cannot read digitnet predict --json: ${fs.readFileSync(cliFile, "utf8")}`); process.exit(1);
    }
    let bad = 0;
    if (String(cli.digit) !== String(shown.digit)) { console.log(`FAIL: ${name}: the page shows ${shown.digit}, digitnet predict says ${cli.digit} for the same image`); bad++; }
    const worst = Math.max(...cli.probabilities.map((p, k) => Math.abs(p - shown.values[k]) / Math.max(1, Math.abs(p))));
    if (cli.probabilities.length !== 10 || !(worst <= 1e-6)) { console.log(`FAIL: ${name}: the page and digitnet predict differ by ${worst} in a value`); bad++; }
    if (!bad) console.log(`cli_browser: ${name}: digitnet predict agrees: ${cli.digit}, values within ${worst.toExponential(1)}`);
    process.exit(bad ? 1 : 0);
  ' "$name" "$OUT/$name.json" "$name.predict" || fail "$name: the page and digitnet predict disagree"
}
compare mlp
compare pta

# ---- a run served live (mlp --serve): its table grows in the page, then its model answers.
# The browser starts first; the run starts once it is up, so that the page watches most of it.
if [ -e "$DATA/train-images-idx3-ubyte" ] || [ -e "$DATA/train-images-idx3-ubyte.gz" ]; then
  live_epochs=40 # a few seconds of training
  DN_PUPPETEER=$PUPPETEER DN_CHROMIUM=$CHROMIUM timeout 90 node "$SRC/tests/browser/live_test.js" live.url "$OUT" \
    $live_epochs live &
  watcher=$!
  for _ in $(seq 600); do [ -e live.url.ready ] && break; kill -0 "$watcher" 2>/dev/null || break; sleep 0.05; done
  "$DIGITNET" mlp --data "$DATA" --train-size 20000 --epochs $live_epochs --hidden 32 --threads 1 --save live.dnm \
    --serve 127.0.0.1:0 >live.out 2>live.err &
  server=$! url=
  for _ in $(seq 100); do
    url=$(sed -n 's|^digitnet serve: listening on \(http://[0-9.]*:[0-9]*/\)$|\1|p' live.out)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$url" ] && echo "$url" >live.url || fail "mlp --serve did not say where it listens: $(cat live.out live.err | tail -5)"
  wait "$watcher" || fail "the live view in chromium (above)"
  stop_server
  cp live.out live.err "$OUT/" 2>/dev/null
fi

echo "cli_browser: screenshot and logs in $OUT"
cp serve.out serve.err "$OUT/" 2>/dev/null
[ "$failures" -eq 0 ] || exit 1
echo "cli_browser: passed"
