#!/usr/bin/env bash
# The runtime's guest tests: builds acg/acgd, the guest test, the tiny
# allocator and the compiled scheduler policies on the host, then runs them in
# one guest boot (real cgroup v2 memory/cpu controllers, sched_ext). Exit
# status: the guest tests' (runtime-guest, then ladder-guest).
#   test/kernel/runtime.sh [guest-run.sh options, e.g. --timeout 1800]
# The guest's timeout: ACG_RUNTIME_TIMEOUT seconds (default 1500: generous for
# a loaded machine under TCG; a later --timeout option wins).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
node node_modules/typescript/bin/tsc --outDir dist --rootDir . --target ES2022 --module NodeNext \
  --moduleResolution NodeNext --strict --skipLibCheck --sourceMap --types node \
  cli/acg.ts cli/acgd.ts cli/acgc.ts test/kernel/runtime-guest.ts test/kernel/runtime-prepare.ts \
  test/kernel/ladder-guest.ts
mkdir -p .cache/runtime-guest
clang-19 -O2 -Wall -o .cache/runtime-guest/acg-alloc test/kernel/runtime-alloc.c
bash scripts/build-launcher.sh
node dist/test/kernel/runtime-prepare.js .cache/runtime-guest/compiled
# One vCPU: under multi-threaded TCG, sched_ext text patching can oops (int3) when a scheduler is detached.
# Both suites run whatever the first's outcome; either failing fails the boot.
exec scripts/guest-run.sh --timeout "${ACG_RUNTIME_TIMEOUT:-1500}" --cpus 1 "$@" -- \
  sh -c 'node dist/test/kernel/runtime-guest.js; a=$?; node dist/test/kernel/ladder-guest.js; b=$?; [ $a = 0 ] && [ $b = 0 ]'
