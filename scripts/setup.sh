#!/usr/bin/env bash
# Everything AgentCgroup needs on a fresh Debian 12 machine, idempotently:
# system packages (scripts/setup-system.sh), npm dependencies from the lockfile,
# the TypeScript build, the native loader and the native `acg run` launcher,
# and the commands acgc, acg, acgd on PATH (links in $ACG_BIN_DIR, default
# /usr/local/bin). A second run does almost nothing.
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
bash scripts/build-launcher.sh
bash scripts/link-commands.sh
log "ok: acgc, acg, acgd in ${ACG_BIN_DIR:-/usr/local/bin}"
