#!/usr/bin/env bash
# Runs every test AgentCgroup has: the type check and the linters, the host
# suite (vitest), the npm package as installed from its tarball, and, where
# present, the kernel suite in the guest. Installs what it needs first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

bash scripts/setup.sh
npx tsc -p tsconfig.json --noEmit
npm run lint
npx vitest run
bash scripts/test-package.sh
if [ -f test/kernel/run.sh ]; then
  bash test/kernel/run.sh
fi
