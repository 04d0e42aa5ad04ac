#!/usr/bin/env bash
# Runs every test AgentCgroup has: the host suite (vitest) and, where present,
# the kernel suite in the guest. Installs what it needs first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

bash scripts/setup.sh
npx tsc -p tsconfig.json --noEmit
npx vitest run
if [ -f test/kernel/run.sh ]; then
  bash test/kernel/run.sh
fi
