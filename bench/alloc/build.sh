#!/usr/bin/env bash
# Builds the benchmark's C helpers into dist/bench/alloc/ (never committed).
#   bench/alloc/build.sh [OUTDIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../../dist/bench/alloc}"
mkdir -p "$out"
CC="${CC:-gcc}"
for src in "$here"/*.c; do
  name="$(basename "$src" .c)"
  bin="$out/$name"
  # Rebuild only when the source is newer than the binary.
  if [[ ! -x "$bin" || "$src" -nt "$bin" ]]; then
    "$CC" -O2 -g -Wall -Wextra -Werror -std=c11 -o "$bin.tmp.$$" "$src"
    mv -f "$bin.tmp.$$" "$bin"
  fi
done
echo "$out"
