#!/usr/bin/env bash
# Fetches the guest kernel for the test bed: the newest Debian trixie-backports
# "cloud-amd64" kernel (7.x: sched_ext, BTF, cgroup v2 memory + cpu), unpacked
# into a cache outside git. Never installs it on the host.
#
#   scripts/fetch-kernel.sh [--update] [--quiet]
#
#   --update  refresh the apt lists and move to a newer kernel if there is one
#             (without it, an already cached kernel is used as is: no network)
#   --quiet   print only the kernel directory on stdout
#
# Result: $ACG_CACHE_DIR/kernel/<abi>/ with
#   vmlinuz       the bootable image
#   config        its .config (from linux-base-<abi>)
#   vmlinux.btf   the kernel's raw BTF, extracted from the image at set-up time
#   vmlinux.h     `bpftool btf dump ... format c` of it (reference only; needs
#                 clang -fms-extensions to compile)
#   version       "<abi> <debian package version>"
# and $ACG_CACHE_DIR/kernel/current -> <abi>. The directory is printed on stdout.
#
# Knobs: ACG_CACHE_DIR (default /var/cache/agentcgroup);
#        ACG_KERNEL=<abi> (e.g. 7.3.4+deb13-cloud-amd64) to pin one kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

update=0 quiet=0
for a in "$@"; do
  case "$a" in
    --update) update=1 ;;
    --quiet) quiet=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$a' (see --help)" ;;
  esac
done
say() { [ "$quiet" = 1 ] || log "$@"; }

cache=${ACG_CACHE_DIR:-/var/cache/agentcgroup}
kroot=$cache/kernel
mkdir -p "$kroot" || die "cannot create $kroot (set ACG_CACHE_DIR to a writable directory)"

# Config options the test bed cannot work without. Everything the guest needs
# to reach its root (virtio-pci, virtiofs) must be built in: the initramfs
# carries no modules.
required_cfg=(SCHED_CLASS_EXT BPF_SYSCALL DEBUG_INFO_BTF MEMCG CGROUP_SCHED
              CGROUPS VIRTIO_PCI VIRTIO_CONSOLE FUSE_FS VIRTIO_FS DEVTMPFS
              TMPFS SERIAL_8250_CONSOLE BLK_DEV_INITRD)

# A kernel directory is complete once its "version" file exists (written last).
complete() { [ -f "$1/version" ] && [ -f "$1/vmlinuz" ] && [ -f "$1/vmlinux.btf" ]; }

# Fast path: a cached kernel and no --update means no apt and no network.
if [ "$update" = 0 ]; then
  if [ -n "${ACG_KERNEL:-}" ] && complete "$kroot/$ACG_KERNEL"; then
    printf '%s\n' "$kroot/$ACG_KERNEL"; exit 0
  elif [ -z "${ACG_KERNEL:-}" ] && [ -L "$kroot/current" ] && complete "$kroot/current"; then
    printf '%s\n' "$(cd "$kroot/current" && pwd -P)"; exit 0
  fi
fi

# Serialise concurrent set-ups (several engineers or test workers at once).
exec 9>"$kroot/.lock"
flock 9

[ "$(id -u)" = 0 ] || die "the kernel is not cached yet; run once as root (it adds an apt source): sudo $0"
command -v apt-get >/dev/null || die "apt-get not found: the test bed expects Debian 12"

# --- apt source: trixie-backports, pinned so that nothing is ever installed
# or upgraded from it on the host; we only `apt-get download` from it.
pin=/etc/apt/preferences.d/agentcgroup-trixie-backports
need_update=$update
if [ ! -f "$pin" ]; then
  cat >"$pin" <<'PIN'
# AgentCgroup test bed: kernels are downloaded from trixie-backports for a
# qemu guest only. Priority -1 keeps apt from ever installing from it here.
Package: *
Pin: release n=trixie-backports
Pin-Priority: -1
PIN
fi
# Download only: the pin above keeps apt from ever installing from it.
if add_debian_suite trixie-backports; then need_update=1; fi
if ! compgen -G '/var/lib/apt/lists/*_dists_trixie-backports_*Packages*' >/dev/null; then
  need_update=1
fi
if [ "$need_update" = 1 ]; then
  say "apt-get update"
  apt_update_once force
fi

# --- resolve the kernel: newest "linux-binary-<abi>" of the cloud flavour.
# (trixie splits the image: linux-binary-* holds vmlinuz, linux-base-* config.)
newest_version() {  # highest available Debian version of package $1, or ""
  local v best=""
  for v in $(apt-cache show "$1" 2>/dev/null | awk '/^Version:/ { print $2 }'); do
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
  done
  printf '%s\n' "$best"
}
if [ -n "${ACG_KERNEL:-}" ]; then
  abi=$ACG_KERNEL
else
  # Package names sort by kernel version with sort -V on the ABI string.
  abi=$(apt-cache pkgnames linux-binary- |
        sed -n 's/^linux-binary-\([0-9][0-9.]*+deb[0-9]*-cloud-amd64\)$/\1/p' |
        sort -rV | while read -r a; do
          # pkgnames also lists names that are only referenced; take the first
          # (newest) one that really has a version to download.
          if [ -n "$(newest_version "linux-binary-$a")" ]; then printf '%s\n' "$a"; break; fi
        done)
  [ -n "$abi" ] || die "no linux-binary-*-cloud-amd64 package in the apt lists; try: $0 --update"
fi
debver=$(newest_version "linux-binary-$abi")
[ -n "$debver" ] || die "package linux-binary-$abi not found in the apt lists; try: $0 --update"

kdir=$kroot/$abi
if complete "$kdir" && [ "$(cut -d' ' -f2 "$kdir/version")" = "$debver" ]; then
  say "kernel $abi ($debver) already cached"
else
  say "fetching kernel $abi ($debver)"
  work=$(mktemp -d "$kroot/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # Run apt's download as root inside our own temp dir (the _apt sandbox user
  # cannot write there, which only yields a warning, so say so explicitly).
  (cd "$work" && apt-get download -q -o APT::Sandbox::User=root \
      "linux-binary-$abi=$debver" "linux-base-$abi=$debver" >"$work/apt.log" 2>&1) ||
    { cat "$work/apt.log" >&2; die "apt-get download of linux-binary/linux-base $abi failed"; }
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  mdir=$work/root/usr/lib/modules/$abi
  [ -f "$mdir/vmlinuz" ] || die "linux-binary-$abi has no usr/lib/modules/$abi/vmlinuz; package layout changed?"
  [ -f "$mdir/config" ] || die "linux-base-$abi has no usr/lib/modules/$abi/config; package layout changed?"

  for opt in "${required_cfg[@]}"; do
    grep -qx "CONFIG_$opt=y" "$mdir/config" ||
      die "kernel $abi lacks CONFIG_$opt=y (has: $(grep -E "CONFIG_$opt[= ]" "$mdir/config" || echo unset)); pin another one with ACG_KERNEL=<abi>"
  done

  new=$work/out
  mkdir -p "$new"
  cp "$mdir/vmlinuz" "$mdir/config" "$new/"
  [ -f "$mdir/modules.builtin" ] && cp "$mdir/modules.builtin" "$new/"

  # The BTF lives in the uncompressed vmlinux inside the bzImage. The setup
  # header says where the compressed payload is: setup_sects at 0x1f1 (0 means
  # 4), payload_offset at 0x248 and payload_length at 0x24c, relative to the
  # protected-mode code that starts after (setup_sects + 1) * 512 bytes.
  say "extracting BTF from vmlinuz"
  rd() { od -An -t"u$2" -j "$1" -N "$2" "$new/vmlinuz" | tr -d ' '; }
  [ "$(dd if="$new/vmlinuz" bs=1 skip=514 count=4 status=none)" = HdrS ] ||
    die "$new/vmlinuz is not a bzImage (no HdrS signature)"
  sects=$(rd $((0x1f1)) 1); [ "$sects" != 0 ] || sects=4
  poff=$(( (sects + 1) * 512 + $(rd $((0x248)) 4) ))
  plen=$(rd $((0x24c)) 4)
  magic=$(od -An -tx1 -j "$poff" -N 4 "$new/vmlinuz" | tr -d ' ')
  # The kernel build appends the uncompressed size (4 bytes) after a zstd
  # stream; zstd refuses trailing bytes, so cut them off.
  case "$magic" in
    28b52ffd) decomp="zstd -dcq"; plen=$((plen - 4)) ;;
    1f8b08*)  decomp="gzip -dc" ;;
    fd377a58) decomp="xz -dc" ;;
    *) die "unknown kernel payload compression (magic $magic at offset $poff)" ;;
  esac
  dd if="$new/vmlinuz" iflag=skip_bytes,count_bytes skip="$poff" count="$plen" bs=1M status=none |
    $decomp >"$work/vmlinux" ||
    die "could not decompress the kernel payload with '$decomp'"
  llvm-objcopy-19 --dump-section .BTF="$new/vmlinux.btf" "$work/vmlinux" /dev/null 2>"$work/objcopy.log" ||
    { cat "$work/objcopy.log" >&2; die "vmlinux has no .BTF section"; }
  rm -f "$work/vmlinux"
  command -v bpftool >/dev/null || die "bpftool not found; run scripts/setup-system.sh"
  bpftool btf dump file "$new/vmlinux.btf" format c >"$new/vmlinux.h" ||
    die "bpftool could not read the extracted BTF"
  printf '%s %s\n' "$abi" "$debver" >"$new/version"

  rm -rf "$kdir" && mv "$new" "$kdir"
  rm -rf "$work"; trap - EXIT
  say "kernel $abi cached in $kdir"
fi

if [ -z "${ACG_KERNEL:-}" ]; then
  ln -sfn "$abi" "$kroot/current.tmp" && mv -T "$kroot/current.tmp" "$kroot/current"
fi
printf '%s\n' "$kdir"
