#!/usr/bin/env bash
# Smoke check of the kernel test bed, in one guest boot: sched_ext is there,
# the root cgroup delegates memory/cpu/pids, the host's node and bpftool run,
# a file written in the guest lands on the host, the guest runs the cached
# kernel, and the command's exit status (3) comes back as ours.
# Exits non-zero, saying what is wrong, if any check fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

mark=".cache/testbed-smoke.$$"
mkdir -p .cache
out=$(mktemp); trap 'rm -f "$out" "$mark"' EXIT

rc=0
"$here/guest-run.sh" "$@" -- sh -c '
  echo "kernel=$(uname -r)"
  echo "scx=$(cat /sys/kernel/sched_ext/state)"
  echo "subtree=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
  echo "node=$(node -e "console.log(process.version)")"
  echo "bpftool=$(bpftool version | head -n1)"
  echo written >'"$mark"'
  exit 3' >"$out" || rc=$?

cat "$out"
bad=0
check() {  # description, condition...
  local what=$1; shift
  if "$@"; then log "ok:   $what"; else log "FAIL: $what"; bad=1; fi
}
val() { sed -n "s/^$1=//p" "$out"; }
has_word() { grep -qw -- "$2" <<<"$1"; }

check "exit 3 in the guest is our exit status 3 (got $rc)" test "$rc" = 3
want_kernel=$(cut -d' ' -f1 "${ACG_CACHE_DIR:-/var/cache/agentcgroup}/kernel/current/version" 2>/dev/null || echo '?')
check "guest kernel is the cached one ($want_kernel; got '$(val kernel)')" test "$(val kernel)" = "$want_kernel"
check "sched_ext present (/sys/kernel/sched_ext/state: '$(val scx)')" has_word "$(val scx)" disabled
for c in memory cpu pids; do
  check "cgroup controller $c enabled in the root subtree_control" has_word "$(val subtree)" "$c"
done
check "node runs in the guest ($(val node), host $(node -v))" test "$(val node)" = "$(node -v)"
check "bpftool runs in the guest ($(val bpftool))" grep -q '^bpftool=bpftool v' "$out"
check "a file written in the guest appears on the host" test "$(cat "$mark" 2>/dev/null)" = written

[ "$bad" = 0 ] || die "test bed smoke check failed (see FAIL lines above)"
log "test bed smoke check passed"
