#!/usr/bin/env bash
# The C and C++ formatting of `npm run lint` (--check) and `npm run format`
# (--fix): every C/C++ source and header of the checkout, tracked or new, with
# the .clang-format nearest to it. Left out: test/fixtures/ (compiled and
# compared as they are) and the *.bpf.c.hbs templates (clang-format breaks
# their Handlebars). clang-format-19 comes from scripts/setup-system.sh.
#   scripts/clang-format.sh --check | --fix
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

bin=${CLANG_FORMAT:-clang-format-19}
command -v "$bin" >/dev/null || die "$bin not found: run scripts/setup-system.sh (as root)"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.cc' '*.h' ':!:test/fixtures/')
[ "${#files[@]}" -gt 0 ] || die "no C sources found (not a git checkout?)"
case "${1:-}" in
  --check) exec "$bin" --dry-run -Werror "${files[@]}" ;;
  --fix) exec "$bin" -i "${files[@]}" ;;
  *) die "usage: scripts/clang-format.sh --check | --fix" ;;
esac
