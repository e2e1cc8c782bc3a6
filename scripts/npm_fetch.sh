#!/usr/bin/env bash
# npm_fetch.sh TAG PACKAGE VERSION DEST MEMBER — installs PACKAGE@VERSION from the npm
# registry into DEST/node_modules (DEST gets a package.json of its own, so that npm
# installs there and not in a project above), then checks that require(PACKAGE).MEMBER
# exists. Quiet and quick when that version already loads there. --ignore-scripts:
# the test dependencies fetched this way (scripts/fetch_onnxruntime.sh,
# scripts/fetch_puppeteer.sh) need no install script, and theirs would reach hosts
# other than the registry. Messages start with TAG.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: npm_fetch.sh TAG PACKAGE VERSION DEST MEMBER" >&2; exit 2; }
tag=$1 package=$2 version=$3 dest=$4 member=$5
loads() { # the installed package is this version and it loads
  [ "$(node -p "require('$dest/node_modules/$package/package.json').version" 2>/dev/null)" = "$version" ] &&
    node -e "if (!require('$dest/node_modules/$package').$member) process.exit(1)" >/dev/null 2>&1
}
loads && exit 0
command -v npm >/dev/null || { echo "$tag: npm is not installed (scripts/deps.sh test installs it)" >&2; exit 1; }
echo "$tag: installing $package@$version from $(npm config get registry 2>/dev/null) into $dest"
mkdir -p "$dest"
[ -f "$dest/package.json" ] || echo '{"private": true, "description": "digitnet test dependency"}' >"$dest/package.json"
log=$(mktemp); trap 'rm -f "$log"' EXIT
(cd "$dest" && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error \
  "$package@$version" >"$log" 2>&1) || {
  echo "$tag: 'npm install $package@$version' failed; it said:" >&2
  tail -n 12 "$log" | sed 's/^/    /' >&2
  exit 1
}
loads || { echo "$tag: $package@$version installed in $dest, but it does not load here:" >&2
  node -e "require('$dest/node_modules/$package')" 2>&1 | tail -n 5 | sed 's/^/    /' >&2; exit 1; }
echo "$tag: $package@$version loads ($dest)"
