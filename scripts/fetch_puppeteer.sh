#!/usr/bin/env bash
# Installs puppeteer-core@24.43.1 (the last line that runs on Node.js 18-20; 25.x needs
# Node 22) from the npm registry into .cache/puppeteer (or $1): tests/cli_browser.sh
# drives Debian's chromium with it. puppeteer-core never downloads a browser; it only
# speaks the DevTools protocol to the one it is given. Quiet and quick when that
# version already loads (scripts/npm_fetch.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/npm_fetch.sh" puppeteer puppeteer-core 24.43.1 "${1:-$here/../.cache/puppeteer}" launch
