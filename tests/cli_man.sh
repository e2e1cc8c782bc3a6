#!/usr/bin/env bash
# cli_man.sh — the man page and the bash completion:
#   digitnet.1 (made by the build from the --help texts, scripts/make_manpage.sh)
#   renders with `man -l` (or groff/nroff where man-db is missing) without
#   warnings, lists every command `digitnet --help` names and every flag of
#   every command;
#   scripts/digitnet.bash-completion completes `digitnet ex<TAB>` to export,
#   `digitnet mlp --hid<TAB>` to --hidden, a flag's choices
#   (`import --activation t<TAB>`) and nothing unknown.
# Skipped (77) without man, groff and nroff.
set -euo pipefail
DIGITNET=${DIGITNET:?set DIGITNET to the digitnet binary}
SRC=${DN_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${DN_BUILD_DIR:-$(dirname "$DIGITNET")}
page=$BUILD/digitnet.1
source "$(dirname "$0")/lib/workdir.sh"
dn_workdir cli_man

# ---- the page renders, warning-free
[ -s "$page" ] || { echo "FAIL: the build made no $page"; exit 1; }
if command -v man >/dev/null; then
  MANWIDTH=100 MAN_KEEP_FORMATTING=0 man --warnings -P cat -l "$page" >page.txt 2>warnings.txt || fail "man -l failed"
elif command -v groff >/dev/null; then
  groff -man -Tutf8 -ww "$page" >page.txt 2>warnings.txt || fail "groff failed"
elif command -v nroff >/dev/null; then
  nroff -man "$page" >page.txt 2>warnings.txt || fail "nroff failed"
else
  echo "cli_man: no man, groff or nroff to render the page, skipped"; exit 77
fi
sed -i 's/.\x08//g' page.txt # overstrike bold and underline, where the renderer used it
[ ! -s warnings.txt ] || fail "rendering warns: $(head -3 warnings.txt)"
grep -q '^NAME' page.txt && grep -q '^OPTIONS' page.txt || fail "no NAME or OPTIONS section: $(head -5 page.txt)"
commands=$("$DIGITNET" --help | awk '/^  [a-z]/ {print $1}')
[ "$(echo "$commands" | wc -w)" -ge 10 ] || fail "digitnet --help lists only: $commands"
for cmd in $commands; do
  grep -qE "^ +$cmd( |\$)" page.txt || fail "COMMANDS does not list $cmd"
  grep -q "^   digitnet $cmd\$" page.txt || fail "no section for digitnet $cmd"
  "$DIGITNET" "$cmd" --help >help.txt 2>&1 || { echo "digitnet $cmd --help: $(head -1 help.txt)"; continue; }
  for flag in $(awk '/^options:$/ { o = 1 } o && /^  --/ {print $1}' help.txt); do
    grep -qF -- "$flag" page.txt || fail "the page lacks $cmd $flag"
  done
done
grep -qF -- '--c-source FILE' page.txt || fail "the page lacks export --c-source FILE"

# ---- completion, by calling the function as bash would
source "$SRC/scripts/digitnet.bash-completion"
complete_words() { # the words bash would offer for "$@" (the last one being completed)
  COMP_WORDS=("$DIGITNET" "$@")
  COMP_CWORD=$#
  _digitnet
  echo "${COMPREPLY[*]}"
}
[ "$(complete_words ex)" = export ] || fail "digitnet ex<TAB> offers '$(complete_words ex)'"
[ "$(complete_words im)" = import ] || fail "digitnet im<TAB> offers '$(complete_words im)'"
[ "$(complete_words mlp --hid)" = --hidden ] || fail "digitnet mlp --hid<TAB> offers '$(complete_words mlp --hid)'"
[ "$(complete_words export m.st --c-)" = "--c-source --c-header" ] ||
  fail "digitnet export m.st --c-<TAB> offers '$(complete_words export m.st --c-)'"
[ "$(complete_words import --activation t)" = tanh ] ||
  fail "digitnet import --activation t<TAB> offers '$(complete_words import --activation t)'"
[ "$(complete_words mlp --loss '')" = "ce mse" ] || fail "digitnet mlp --loss <TAB> offers '$(complete_words mlp --loss '')'"
[ -z "$(complete_words mlp --nonsense)" ] || fail "an unknown flag is completed: '$(complete_words mlp --nonsense)'"
[ -z "$(complete_words nosuchcommand --h)" ] || fail "an unknown command's flags are completed"
touch model.st
[ "$(complete_words eval --data mod)" = model.st ] || fail "a flag's value is not completed as a file"

[ "$failures" -eq 0 ] || { echo "cli_man: $failures failure(s)"; exit 1; }
echo "cli_man: all passed"
