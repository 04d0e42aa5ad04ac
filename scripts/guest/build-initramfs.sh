#!/usr/bin/env bash
# Builds the test-bed initramfs: busybox-static plus scripts/guest/init. No
# kernel modules: fetch-kernel.sh checks that everything needed to reach the
# root (virtio-pci, virtiofs, virtio-console) is built into the kernel.
#
# Cached by content: $ACG_CACHE_DIR/initramfs/<hash>.cpio.gz, where the hash
# covers init, this script and the busybox binary. Prints the image's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

cache=${ACG_CACHE_DIR:-/var/cache/agentcgroup}/initramfs
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found; run scripts/setup-system.sh (busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  die "$busybox is not statically linked; install busybox-static"

hash=$(cat "$here/init" "$0" "$busybox" | sha256sum | cut -c1-16)
img=$cache/$hash.cpio.gz
if [ -f "$img" ]; then printf '%s\n' "$img"; exit 0; fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/dev" "$work/root/proc" "$work/root/sys" "$work/root/host"
cp "$busybox" "$work/root/bin/busybox"
cp "$here/init" "$work/root/init"
chmod 755 "$work/root/init" "$work/root/bin/busybox"
# The console must exist before devtmpfs is mounted, for the kernel to hand
# PID 1 a stdin/stdout.
mknod -m 600 "$work/root/dev/console" c 5 1
(cd "$work/root" && find . -print0 | LC_ALL=C sort -z |
   cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$work/img"
mv "$work/img" "$img"
# Old images of earlier inputs are useless; keep the directory small.
find "$cache" -maxdepth 1 -name '*.cpio.gz' ! -name "$hash.cpio.gz" -mmin +60 -delete 2>/dev/null || true
printf '%s\n' "$img"
