#!/bin/sh
# Queried by binding.gyp at configure time. Prints one fact about the
# libbpf this addon is built against, or fails the build with a clear
# message when libbpf-dev is missing or not the pinned 1.4.x series.
#   libbpf-config.sh version   -> e.g. 1.4.6
#   libbpf-config.sh archive   -> the position-independent libbpf.a built by
#                                 scripts/build-native.sh ($ACG_LIBBPF_A)
#   libbpf-config.sh includedir -> its headers (same release as libbpf-dev)
set -eu
REQUIRED_SERIES="1.4"

fail() { echo "libbpf-config: $*" >&2; echo "__libbpf_config_failed__"; exit 1; }

version() {
  v=""
  if command -v pkg-config >/dev/null 2>&1; then
    v=$(pkg-config --modversion libbpf 2>/dev/null || true)
  fi
  if [ -z "$v" ] && command -v dpkg-query >/dev/null 2>&1; then
    v=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null | sed -e 's/^[0-9]*://' -e 's/-.*$//' || true)
  fi
  [ -n "$v" ] || fail "libbpf-dev not found (run scripts/setup-system.sh)"
  case "$v" in
    "$REQUIRED_SERIES".*) ;;
    *) fail "libbpf-dev $v found, but this addon is pinned to libbpf $REQUIRED_SERIES.x" ;;
  esac
  echo "$v"
}

case "${1:-}" in
  version) version ;;
  archive)
    v=$(version)
    a="${ACG_LIBBPF_A:-$(cd "$(dirname "$0")/.." && pwd)/.cache/libbpf-$v/lib/libbpf.a}"
    [ -f "$a" ] || fail "$a not found: build with 'npm run build:native'"
    echo "$a" ;;
  includedir)
    v=$(version)
    d="${ACG_LIBBPF_INCLUDE:-$(cd "$(dirname "$0")/.." && pwd)/.cache/libbpf-$v/install/include}"
    [ -d "$d/bpf" ] || fail "$d/bpf not found: build with 'npm run build:native'"
    echo "$d" ;;
  *) fail "usage: $0 version|archive|includedir" ;;
esac
