#!/usr/bin/env bash
# Installs the system packages AgentCgroup builds and tests with, idempotently:
# clang-19, clang-format-19 and LLVM tools, libbpf 1.4.6 and bpftool 7.5 from bookworm-backports,
# and qemu + busybox for the kernel test bed. Must run as root on Debian 12.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages)"
[ "$(debian_codename)" = bookworm ] || die "expects Debian 12 (bookworm), found '$(debian_codename)'"

# qemu-system-x86 brings qemu-system-common with /usr/lib/qemu/virtiofsd (the
# test bed shares the host's files with the guest over virtiofs); zstd and file
# are used to unpack the guest kernel and check busybox. clang-format-19 is
# `npm run lint`'s formatter of the C in native/ and bpf-templates/include/.
# ACG_SETUP_TESTBED=0 (the container image) leaves out the test bed: qemu and the guest kernel.
want_pkgs=(clang-19 clang-format-19 llvm-19 libelf-dev zlib1g-dev libzstd-dev pkg-config gcc systemd)
testbed=${ACG_SETUP_TESTBED:-1}
[ "$testbed" = 0 ] || want_pkgs+=(qemu-system-x86 qemu-system-common busybox-static cpio zstd file)
backport_pkgs=(libbpf-dev bpftool)

missing() { for p in "$@"; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done; }

if add_debian_suite bookworm-backports; then apt_update_once force; fi

need=$(missing "${want_pkgs[@]}")
libbpf_ver=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || true)
case "$libbpf_ver" in 1:1.4.*|1.4.*) bp_need=$(missing bpftool);; *) bp_need="${backport_pkgs[*]}";; esac
if [ -n "$need$bp_need" ]; then
  apt_update_once
  export DEBIAN_FRONTEND=noninteractive
  [ -z "$need" ] || apt-get install -y -qq --no-install-recommends $need >/dev/null
  [ -z "$bp_need" ] || apt-get install -y -qq --no-install-recommends -t bookworm-backports $bp_need >/dev/null
fi
# The test bed's guest kernel (cached; downloads only the first time) and its
# BTF, so that vmlinux.h is there for reference from the start.
log "ok: $(clang-19 --version | head -n1); libbpf-dev $(dpkg-query -W -f='${Version}' libbpf-dev); $(bpftool version 2>/dev/null | head -n1)"
if [ "$testbed" != 0 ]; then
  kdir=$("$here/fetch-kernel.sh") || die "fetching the test-bed kernel failed"
  log "ok: test-bed kernel in $kdir"
fi
