#!/usr/bin/env bash
# Everything AgentCgroup needs on a fresh Debian 12 machine, idempotently:
# system packages (scripts/setup-system.sh), npm dependencies from the lockfile,
# the TypeScript build and the native loader. A second run does almost nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

bash scripts/setup-system.sh

# npm: reinstall only when the lockfile changed since the last install.
stamp=node_modules/.agentcgroup-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --ignore-scripts >/dev/null
  echo "$want" >"$stamp"
fi

log "building TypeScript"
npx tsc -p tsconfig.json

if [ -f scripts/build-native.sh ]; then
  bash scripts/build-native.sh
fi
log "ok"
