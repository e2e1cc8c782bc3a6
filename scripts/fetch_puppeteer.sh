#!/usr/bin/env bash
# Installs puppeteer-core@24.43.1 (the last line that runs on Node.js 18-20; 25.x needs
# Node 22) from the npm registry into .cache/puppeteer (or $1): tests/cli_browser.sh
# drives Debian's chromium with it. puppeteer-core never downloads a browser; it only
# speaks the DevTools protocol to the one it is given. Quiet and quick when that
# version already loads.
set -euo pipefail
version=24.43.1
dest=${1:-$(cd "$(dirname "$0")/.." && pwd)/.cache/puppeteer}
loads() { # the installed package is this version and it loads
  [ "$(node -p "require('$dest/node_modules/puppeteer-core/package.json').version" 2>/dev/null)" = $version ] &&
    node -e "require('$dest/node_modules/puppeteer-core').launch" >/dev/null 2>&1
}
loads && exit 0
command -v npm >/dev/null || { echo "fetch_puppeteer: npm is not installed (scripts/deps.sh test installs it)" >&2; exit 1; }
echo "puppeteer: installing puppeteer-core@$version from $(npm config get registry 2>/dev/null) into $dest"
mkdir -p "$dest"
# its own package.json, so that npm installs here and not in a project above
[ -f "$dest/package.json" ] || echo '{"private": true, "description": "digitnet test dependency"}' >"$dest/package.json"
log=$(mktemp); trap 'rm -f "$log"' EXIT
(cd "$dest" && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \
  "puppeteer-core@$version" >"$log" 2>&1) || {
  echo "fetch_puppeteer: 'npm install puppeteer-core@$version' failed; it said:" >&2
  tail -n 12 "$log" | sed 's/^/    /' >&2
  exit 1
}
loads || { echo "fetch_puppeteer: puppeteer-core@$version installed in $dest, but it does not load here:" >&2
  node -e "require('$dest/node_modules/puppeteer-core')" 2>&1 | tail -n 5 | sed 's/^/    /' >&2; exit 1; }
echo "puppeteer: puppeteer-core@$version loads ($dest)"
