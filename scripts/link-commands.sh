#!/usr/bin/env bash
# Puts acgc, acg and acgd on PATH: symbolic links in BIN_DIR (default
# $ACG_BIN_DIR, else /usr/local/bin) to this checkout's commands. `acg` is the
# native launcher when it is built (acg run without Node's start-up; other acg
# commands are handed to the Node acg), else bin/acg.js. Idempotent; a link of
# another checkout is replaced, a file that is not a link is left alone (and
# named).
#   scripts/link-commands.sh [BIN_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bindir=${1:-${ACG_BIN_DIR:-/usr/local/bin}}
mkdir -p "$bindir"
acg="$root/bin/acg.js"
[ -x "$root/native/build/acg-run" ] && acg="$root/native/build/acg-run"
status=0
for pair in "acgc:$root/bin/acgc.js" "acgd:$root/bin/acgd.js" "acg:$acg" "acg-run:$root/native/build/acg-run"; do
  name=${pair%%:*} target=${pair#*:}
  [ -e "$target" ] || continue
  if [ -e "$bindir/$name" ] && [ ! -L "$bindir/$name" ]; then
    echo "link-commands: $bindir/$name exists and is not a link: left alone" >&2
    status=1
    continue
  fi
  [ "$(readlink "$bindir/$name" 2>/dev/null)" = "$target" ] || ln -sfn "$target" "$bindir/$name"
done
exit $status
