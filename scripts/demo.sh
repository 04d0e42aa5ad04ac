#!/usr/bin/env bash
# The main job: set up; check and format-check the shipped policies; compile one;
# then, in the guest kernel (sched_ext, cgroup v2 memory and cpu), start acgd,
# run tool calls of two agents under it, show acgc status, hot-swap a changed policy.
# The guest's timeout: ACG_DEMO_TIMEOUT seconds (default 1800, room for a loaded
# machine under software emulation).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

bash scripts/setup.sh
echo "== acgc check policies/*.acg"
node bin/acgc.js check policies/*.acg
echo "== acgc fmt --check policies/*.acg"
node bin/acgc.js fmt --check policies/*.acg

out=.cache/demo
rm -rf "$out" && mkdir -p "$out"
echo "== acgc compile policies/swe-agents.acg -o $out/swe-agents"
node bin/acgc.js compile policies/swe-agents.acg -o "$out/swe-agents"
# The changed policy: the same shape, new numbers (a larger test baseline and
# burst), so the swap is a data-only generation flip.
sed -e 's/memory.baseline = 512MiB/memory.baseline = 768MiB/; s/memory.burst = 3GiB for 60s/memory.burst = 3GiB for 90s/' \
  policies/swe-agents.acg >"$out/swe-agents-changed.acg"
echo "== acgc compile $out/swe-agents-changed.acg -o $out/swe-agents-changed"
node bin/acgc.js compile "$out/swe-agents-changed.acg" -o "$out/swe-agents-changed"

echo "== in the guest kernel"
# Single-threaded TCG: with a thread per vCPU, attaching the scheduler (kernel
# text patched through int3) can oops the other vCPU (docs/kernel-tests.md).
scripts/guest-run.sh --tcg-thread single --timeout "${ACG_DEMO_TIMEOUT:-1800}" -- bash scripts/demo-guest.sh "$out/swe-agents" "$out/swe-agents-changed"
