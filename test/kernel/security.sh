#!/usr/bin/env bash
# The security and fault suite (issue 11; test/kernel/security-guest.ts):
# builds acg/acgd, the guest test and the tiny allocator on the host, then
# runs it in one guest boot (real cgroup v2 memory/cpu controllers, peers of
# another uid). Exit status: the guest test's.
#   test/kernel/security.sh [guest-run.sh options, e.g. --timeout 600]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
node node_modules/typescript/bin/tsc --outDir dist --rootDir . --target ES2022 --module NodeNext \
  --moduleResolution NodeNext --strict --skipLibCheck --sourceMap --types node \
  cli/acg.ts cli/acgd.ts test/kernel/security-guest.ts
mkdir -p .cache/runtime-guest
clang-19 -O2 -Wall -o .cache/runtime-guest/acg-alloc test/kernel/runtime-alloc.c
exec scripts/guest-run.sh --timeout 900 --cpus 1 "$@" -- node dist/test/kernel/security-guest.js
