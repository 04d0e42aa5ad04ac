#!/usr/bin/env bash
# The in-guest half of scripts/demo.sh: start acgd with a compiled policy, run
# tool calls of two agents under it, let the exec classifier move an agent's
# unwrapped process into a call, show the status, hot-swap a changed policy.
#   scripts/demo-guest.sh COMPILED_DIR CHANGED_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
compiled=$1
changed=$2
export ACG_SOCKET=/run/agentcgroup/acgd.sock
acg() { node bin/acg.js "$@"; }
acgc() { node bin/acgc.js "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "acgd --policy $compiled"
node bin/acgd.js --policy "$compiled" >/tmp/acgd.log 2>&1 &
acgd_pid=$!
trap 'kill "$acgd_pid" 2>/dev/null || true; wait "$acgd_pid" 2>/dev/null || true' EXIT
# Under TCG acgd takes seconds to listen, and its scheduler and classifier
# attach seconds later (the kernel verifying them: emulated CPU).
for _ in $(seq 1 1200); do
  [ -S "$ACG_SOCKET" ] && break
  kill -0 "$acgd_pid" 2>/dev/null || { cat /tmp/acgd.log; echo "acgd exited" >&2; exit 1; }
  sleep 0.1
done
[ -S "$ACG_SOCKET" ] || { cat /tmp/acgd.log; echo "acgd did not open its socket" >&2; exit 1; }
# acgd serves at once; the scheduler and the classifier attach once the kernel has verified them.
for _ in $(seq 1 1200); do
  grep -q "BPF objects: loading ended" /tmp/acgd.log && break
  sleep 0.1
done
echo "sched_ext: $(cat /sys/kernel/sched_ext/state) ($(cat /sys/kernel/sched_ext/root/ops 2>/dev/null || echo -))"
acgc status

step "tool calls of two agents, side by side"
# alice: version control (the vcs rule, class interactive);
# bob: a test run (hint kind=tests → the tests rule, class build) that allocates 64MiB.
acg run --agent alice --tool Bash -- git --version &
a=$!
acg run --agent bob --tool Bash --hint kind=tests -- \
  python3 -c 'b = bytearray(64 << 20); print("bob: touched", len(b) >> 20, "MiB")' &
b=$!
acg run --agent alice --tool Bash --hint memory=6GiB -- cat /proc/self/cgroup &
c=$!
wait "$a" "$b" "$c"

step "an agent's own process, not wrapped in acg run: the exec classifier moves it"
# alice's shell (in her agent cgroup) runs \`tail -f\`, which the inspect rule
# matches: acgd sees the exec in the classifier's ring buffer and moves the
# process into a tool-call cgroup of its own.
leaf=/sys/fs/cgroup/agentcgroup/default/alice/agent
[ -d "$leaf" ] || { echo "alice's agent cgroup $leaf is missing" >&2; exit 1; }
sh -c "echo \$\$ >$leaf/cgroup.procs && exec tail -f /dev/null" &
t=$!
for _ in $(seq 1 100); do
  grep -q '/call-' "/proc/$t/cgroup" && break
  sleep 0.1
done
echo "tail (pid $t) is in $(cut -d: -f3 "/proc/$t/cgroup")"
acgc status
kill "$t"
wait "$t" 2>/dev/null || true

step "acgc status"
acgc status

step "hot swap: acgc apply $changed"
acgc apply "$changed"
acgc status
echo "sched_ext after the swap: $(cat /sys/kernel/sched_ext/state)"

step "a call under the new policy"
acg run --agent bob --tool Bash -- true

step "acgd log"
cat /tmp/acgd.log
