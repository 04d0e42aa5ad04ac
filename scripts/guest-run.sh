#!/usr/bin/env bash
# Runs a command inside a qemu guest booted on the test-bed kernel (sched_ext,
# BTF, cgroup v2 with memory/cpu/pids), with the work tree shared writable at
# the same absolute path and the host's root file system as the guest's
# (read-only), so node, clang, bpftool etc. are the host's own.
#
#   scripts/guest-run.sh [options] [--] CMD [ARGS...]
#
#   --timeout SECS   kill the guest after SECS seconds    (ACG_GUEST_TIMEOUT, 600)
#   --mem SIZE       guest memory, qemu syntax: 2G, 512M   (ACG_GUEST_MEM, 2G)
#   --cpus N         guest vCPUs                           (ACG_GUEST_CPUS, host's)
#   --accel A        auto | kvm | tcg                      (ACG_ACCEL, auto)
#   --tcg-thread T   multi | single: TCG's vCPUs on one host thread each, or
#                    all on one (ACG_TCG_THREAD, multi). Under multi, sched_ext
#                    enable/disable (static-key text patching) intermittently
#                    oopses on another vCPU with a stale int3; single avoids it
#                    at the price of speed (docs/kernel-tests.md, "Why one vCPU")
#   --share DIR      writable shared tree                  (ACG_GUEST_SHARE,
#                    default: the git top level of the current directory)
#   -q, --quiet      no informational lines on stderr      (ACG_GUEST_QUIET=1)
#
# CMD runs with cwd = the caller's cwd (which must be inside the share), stdin
# /dev/null, PATH/HOME=/root/LANG set, ACG_GUEST=1, and the caller's ACG_*, CI
# and the variables named in ACG_GUEST_ENV passed through. Its stdout and
# stderr are streamed to ours; our exit status is CMD's.
# Exit status 124: timeout; 125: the test bed itself failed (the guest did not
# boot or did not report a status); the console log is printed in both cases.
#
# Other knobs: ACG_CACHE_DIR (default /var/cache/agentcgroup): kernel,
# initramfs, runs/<id>/ with console.log, qemu.log, virtiofsd logs, and
# guest.lock, which makes guests on one machine run one after another.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_start=$(date +%s.%N)

# The usage text is the comment block at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

timeout_s=${ACG_GUEST_TIMEOUT:-600}
mem=${ACG_GUEST_MEM:-2G}
cpus=${ACG_GUEST_CPUS:-$(nproc)}
accel=${ACG_ACCEL:-auto}
tcg_thread=${ACG_TCG_THREAD:-multi}
share=${ACG_GUEST_SHARE:-}
quiet=${ACG_GUEST_QUIET:-0}
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
    --mem) mem=${2:?--mem needs a value}; shift 2 ;;
    --cpus) cpus=${2:?--cpus needs a value}; shift 2 ;;
    --accel) accel=${2:?--accel needs a value}; shift 2 ;;
    --tcg-thread) tcg_thread=${2:?--tcg-thread needs a value}; shift 2 ;;
    --share) share=${2:?--share needs a value}; shift 2 ;;
    -q|--quiet) quiet=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { log "error: no command given"; usage 2; }
info() { [ "$quiet" = 1 ] || log "$@"; }

[[ "$timeout_s" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout_s'"
[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive integer, got '$cpus'"
[[ "$mem" =~ ^[0-9]+[MG]$ ]] || die "--mem must look like 512M or 2G, got '$mem'"
case "$accel" in auto|kvm|tcg) ;; *) die "--accel must be auto, kvm or tcg, got '$accel'" ;; esac
case "$tcg_thread" in multi|single) ;; *) die "--tcg-thread must be multi or single, got '$tcg_thread'" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (virtiofsd serves the host's files to the guest)"
for tool in qemu-system-x86_64 /usr/lib/qemu/virtiofsd timeout flock; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/setup-system.sh"
done

# --- what to share: the caller's work tree, at the same absolute path.
cwd=$(pwd -P)
if [ -z "$share" ]; then
  share=$(git -C "$cwd" rev-parse --show-toplevel 2>/dev/null || printf '%s' "$cwd")
fi
share=$(cd "$share" 2>/dev/null && pwd -P) || die "share directory '$share' does not exist"
[ "$share" != / ] || die "refusing to share / writable; run from inside a work tree or pass --share DIR"
case "$cwd/" in "$share"/*) ;; *) die "current directory $cwd is not inside the shared tree $share (use --share)" ;; esac
# Paths travel on the kernel command line, which splits on white space.
case "$share$cwd" in *[[:space:]]*) die "paths with white space are not supported: $share" ;; esac

# --- inputs: kernel (fetched once) and initramfs (rebuilt when inputs change).
kdir=$("$here/fetch-kernel.sh" --quiet) || die "could not get the guest kernel (see above)"
initrd=$("$here/guest/build-initramfs.sh") || die "could not build the initramfs (see above)"

cache=${ACG_CACHE_DIR:-/var/cache/agentcgroup}
runs=$cache/runs
mkdir -p "$runs"
run=$(mktemp -d "$runs/$(date +%Y%m%d-%H%M%S)-XXXX")
case "$run" in *[[:space:]]*) die "ACG_CACHE_DIR must not contain white space: $cache" ;; esac
ln -sfn "$(basename "$run")" "$runs/last"
# Keep the 30 newest run directories.
ls -1dt "$runs"/2*/ 2>/dev/null | tail -n +31 | xargs -r rm -rf

# --- the job: a bash script on the host root, which the guest sees read-only.
{
  echo '#!/bin/bash'
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  echo 'export HOME=/root LANG=C.UTF-8 TERM=dumb ACG_GUEST=1'
  for name in $(compgen -e | grep -E '^(ACG_[A-Za-z0-9_]*|CI)$' || true) ${ACG_GUEST_ENV:-}; do
    [ -n "${!name+set}" ] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  printf 'cd -- %q || exit 125\n' "$cwd"
  printf 'exec'; printf ' %q' "$@"; printf '\n'
} >"$run/job.sh"

# --- children, and their cleanup on any exit.
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

start_virtiofsd() {  # tag dir cache-mode
  local sock=$run/$1.sock
  /usr/lib/qemu/virtiofsd --socket-path="$sock" -o source="$2" -o cache="$3" \
    -o sandbox=chroot -o log_level=warn >"$run/virtiofsd-$1.log" 2>&1 &
  pids+=($!)
  local i
  for i in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
  cat "$run/virtiofsd-$1.log" >&2
  die "virtiofsd for $2 did not start (log: $run/virtiofsd-$1.log)"
}

# qemu arguments common to the probe and the real run. The shared memory
# backend is what vhost-user (virtiofsd) needs; -nodefaults keeps the machine
# lean (no NIC with its option ROM, no VGA).
base_args=(-nodefaults -no-user-config -display none -no-reboot
           -m "$mem" -smp "$cpus"
           -object "memory-backend-memfd,id=mem,size=$mem,share=on" -machine "pc,memory-backend=mem"
           -kernel "$kdir/vmlinuz" -initrd "$initrd"
           -device virtio-serial-pci,id=vser)
accel_args() {
  case "$1" in
    kvm) echo "-accel kvm -cpu host" ;;
    tcg) echo "-accel tcg,thread=$tcg_thread -cpu max" ;;
  esac
}
cmdline_base="console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init"

# KVM may exist but be unusable (nested virtualisation): probe it once per
# host boot with a guest that only reports back, and remember the answer.
if [ "$accel" = auto ]; then
  boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  probe_file=$cache/accel.$boot_id
  if [ -f "$probe_file" ]; then
    accel=$(cat "$probe_file")
  elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    accel=tcg
  else
    info "probing KVM (once per host boot)"
    : >"$run/probe.status"
    # shellcheck disable=SC2046
    # (In a subshell so that bash's "Aborted" note, when qemu dies of an
    # assertion, goes to the log too.)
    ( timeout -k 2 20 qemu-system-x86_64 $(accel_args kvm) "${base_args[@]}" \
        -serial "file:$run/probe-console.log" \
        -chardev "file,id=st,path=$run/probe.status" -device virtserialport,chardev=st,name=acg.status,nr=3 \
        -append "$cmdline_base acg.probe=1" ) >"$run/probe-qemu.log" 2>&1 || true
    if grep -qx 'rc 0' "$run/probe.status"; then accel=kvm; else accel=tcg; fi
    info "KVM $( [ $accel = kvm ] && echo works || echo "is not usable here ($(tail -n1 "$run/probe-qemu.log"))"), using $accel"
    echo "$accel" >"$probe_file"
  fi
fi

# One guest at a time on this machine: two TCG guests on 2 cores make each
# other's timing-sensitive measurements meaningless and can double boot times
# past any timeout. The wait does not count against --timeout.
lock=$cache/guest.lock
exec 8>"$lock"
if ! flock -n 8; then
  info "waiting for another guest on this machine to finish ($lock)"
  flock 8
fi

start_virtiofsd hostroot / always   # read-only in the guest: cache freely
start_virtiofsd share "$share" auto # written by both sides: revalidate

# Streams: qemu writes the guest's stdout/stderr ports into FIFOs we relay.
mkfifo "$run/stdout.fifo" "$run/stderr.fifo"
cat "$run/stdout.fifo" & readers=($!)
cat "$run/stderr.fifo" >&2 & readers+=($!)
pids+=("${readers[@]}")
: >"$run/status"

info "booting $(cut -d' ' -f1 "$kdir/version") ($accel$([ "$accel" = tcg ] && echo ", $tcg_thread-threaded"), $cpus cpus, $mem), sharing $share; logs in $run"
t_qemu=$(date +%s.%N)
# shellcheck disable=SC2046
timeout -k 5 "$timeout_s" qemu-system-x86_64 $(accel_args "$accel") "${base_args[@]}" \
  -serial "file:$run/console.log" \
  -chardev "socket,id=vfs0,path=$run/hostroot.sock" -device vhost-user-fs-pci,chardev=vfs0,tag=hostroot \
  -chardev "socket,id=vfs1,path=$run/share.sock" -device vhost-user-fs-pci,chardev=vfs1,tag=share \
  -chardev "file,id=out,path=$run/stdout.fifo" -device virtserialport,chardev=out,name=acg.stdout,nr=1 \
  -chardev "file,id=err,path=$run/stderr.fifo" -device virtserialport,chardev=err,name=acg.stderr,nr=2 \
  -chardev "file,id=st,path=$run/status" -device virtserialport,chardev=st,name=acg.status,nr=3 \
  -append "$cmdline_base acg.run=$run acg.share=$share" \
  </dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!
pids+=("$qemu_pid")
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
t_end=$(date +%s.%N)
# qemu closing the FIFOs ends the relays; wait so no output is lost.
for p in "${readers[@]}"; do wait "$p" 2>/dev/null || true; done
rm -f "$run"/*.fifo "$run"/*.sock

show_console() {  # [tail-lines]
  if [ -n "${1:-}" ]; then
    log "last $1 lines of the guest console ($run/console.log):"
    tail -n "$1" "$run/console.log" >&2 || true
  else
    log "guest console ($run/console.log):"
    cat "$run/console.log" >&2 || true
  fi
  [ -s "$run/console.log" ] ||
    log "the console is empty: the kernel printed nothing (too little --mem? a broken image in $kdir?)"
  if [ -s "$run/qemu.log" ]; then log "qemu said:"; cat "$run/qemu.log" >&2; fi
}

boot=$(awk '$1 == "boot" { print $2 }' "$run/status")
rc=$(awk '$1 == "rc" { print $2 }' "$run/status")
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  log "error: timeout: the guest ran longer than ${timeout_s}s and was killed (raise it with --timeout)"
  show_console 40
  exit 124
fi
if [ -z "$rc" ]; then
  log "error: the guest ended without reporting an exit status (qemu exit status $qemu_rc)"
  [ -n "$boot" ] || log "error: it never reached the point of running the command: boot failure"
  show_console
  panic=$(grep -m1 'Kernel panic' "$run/console.log" || true)
  [ -z "$panic" ] || log "error: the guest kernel panicked: ${panic#*] }"
  exit 125
fi
info "guest: ready after ${boot}s of kernel uptime ($(secs "$t_qemu" "$t_end")s qemu wall, $(secs "$t_start" "$t_end")s in all, $accel); command exit status $rc"
if [ "$rc" = 125 ] && grep -q 'acg-init: FAILED' "$run/console.log"; then
  log "error: the guest could not set up: $(grep -m1 'acg-init: FAILED' "$run/console.log")"
  show_console
fi
exit "$rc"
