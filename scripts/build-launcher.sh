#!/usr/bin/env bash
# Builds the native `acg run` launcher (native/launcher/acg-run.c) into
# native/build/acg-run. Idempotent: rebuilt only when the source or the
# package version changed. Needs only a C compiler (gcc or cc) and libc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/native/launcher/acg-run.c"
out="$root/native/build/acg-run"
version=$(node -p "require('$root/package.json').version")
cc=${CC:-$(command -v gcc || command -v cc || true)}
[ -n "$cc" ] || { echo "build-launcher: no C compiler (install gcc); acg run works without the launcher (Node)" >&2; exit 1; }
stamp="$out.version"
if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then exit 0; fi
mkdir -p "$(dirname "$out")"
"$cc" -std=gnu17 -O2 -Wall -Wextra -Werror -DACG_VERSION="\"$version\"" -o "$out.tmp" "$src" -lm
mv "$out.tmp" "$out"
echo "$version" >"$stamp"
echo "build-launcher: built $out" >&2
