#!/usr/bin/env bash
# Builds the native loader addon (native/build/Release/acg_native.node).
#
# Idempotent. libbpf is pinned to the libbpf-dev 1.4.x installed by
# scripts/setup-system.sh and linked statically. Debian's libbpf.a is not
# position-independent, so it cannot go into a shared object; instead the
# same upstream release is compiled once with -fPIC from Debian's source
# package (fetched with `apt-get source` into .cache/, using this machine's
# own apt mirrors) and cached in .cache/libbpf-<version>/. Then node-gyp runs
# offline against Node's installed headers (--nodedir=/usr).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'build-native: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

ver=$(sh "$root/native/libbpf-config.sh" version) || die "libbpf check failed (run scripts/setup-system.sh)"
debver=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || true)
cache="$root/.cache/libbpf-$ver"
archive="$cache/lib/libbpf.a"

fetch_source() {
  local work="$cache/apt" tarball
  tarball=$(ls "$cache"/libbpf_"$ver".orig.tar.* 2>/dev/null | head -n1 || true)
  [ -n "$tarball" ] && { printf '%s\n' "$tarball"; return; }
  command -v apt-get >/dev/null || die "apt-get not found: cannot fetch the libbpf $ver source"
  rm -rf "$work"; mkdir -p "$work/parts" "$work/lists/partial" "$work/cache" "$work/dl"
  # deb-src twins of this machine's enabled apt sources (private state; the
  # system's apt configuration is not touched).
  local f n=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -e 's/^Types:.*/Types: deb-src/' "$f" > "$work/parts/src$n.sources"; n=$((n+1))
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n -e 's/^deb /deb-src /p' "$f" > "$work/parts/src$n.list"; n=$((n+1))
  done
  local A=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/parts"
           -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Debug::NoLocking=1)
  log "fetching the libbpf $ver source package (apt-get source)"
  apt-get "${A[@]}" -qq update >&2 || die "apt-get update (deb-src) failed"
  # The .orig tarball is the upstream release; apt verifies its hash.
  ( cd "$work/dl" && apt-get "${A[@]}" -qq source --download-only "libbpf=${debver#*:}" >&2 ) || true
  tarball=$(ls "$work"/dl/libbpf_"$ver".orig.tar.* 2>/dev/null | head -n1 || true)
  [ -n "$tarball" ] || die "could not download libbpf_$ver.orig.tar.* from the Debian archive"
  mv "$tarball" "$cache/"
  rm -rf "$work"
  ls "$cache"/libbpf_"$ver".orig.tar.* | head -n1
}

if [ ! -f "$archive" ]; then
  mkdir -p "$cache"
  tarball=$(fetch_source)
  src="$cache/src"
  rm -rf "$src"; mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  grep -q "^LIBBPF_$(echo "$ver" | cut -d. -f1,2)\.0\|LIBBPF_$(echo "$ver" | cut -d. -f1,2)" "$src/src/libbpf.map" \
    || die "downloaded source does not look like libbpf $ver"
  log "compiling libbpf $ver with -fPIC"
  mkdir -p "$cache/obj"
  make -s -C "$src/src" -j"$(nproc 2>/dev/null || echo 2)" BUILD_STATIC_ONLY=y \
       OBJDIR="$cache/obj" DESTDIR="$cache/install" PREFIX=/ LIBDIR=/lib \
       CFLAGS="-g -O2 -fPIC" install >&2 || die "libbpf build failed"
  mkdir -p "$cache/lib"
  cp "$cache/install/lib/libbpf.a" "$archive.tmp" && mv "$archive.tmp" "$archive"
  rm -rf "$src" "$cache/obj"
fi
log "libbpf $ver (static, PIC: $archive), node $(node -v)"

nodedir=${ACG_NODEDIR:-/usr}
[ -f "$nodedir/include/node/node_api.h" ] || die "Node headers not found under $nodedir/include/node"
gyp="$root/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || die "node-gyp not installed (run npm install)"

cd "$root/native"
export ACG_LIBBPF_A="$archive" ACG_LIBBPF_INCLUDE="$cache/install/include"
jobs=$(nproc 2>/dev/null || echo 2)
# configure + build: incremental, so re-running is cheap.
node "$gyp" configure --nodedir="$nodedir" --loglevel=warn
node "$gyp" build --nodedir="$nodedir" --jobs="$jobs" --loglevel=warn
log "built $root/native/build/Release/acg_native.node"
