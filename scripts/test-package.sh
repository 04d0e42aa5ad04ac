#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack` (prepack builds dist/), then
# install the tarball into an empty project and run the installed commands and
# the client export. Dependencies come from npm's cache when it has them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/acg-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
say() { printf 'test-package: %s\n' "$*" >&2; }

cd "$root"
tgz=$(npm pack --silent --pack-destination "$work" | tail -n1)
say "packed $tgz ($(du -k "$work/$tgz" | cut -f1) KiB)"
cd "$work"
npm init -y >/dev/null
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$work/$tgz" >/dev/null
pkg="$work/node_modules/agentcgroup"
export PATH="$work/node_modules/.bin:$PATH"
for cmd in acgc acg acgd; do
  [ "$(command -v "$cmd")" = "$work/node_modules/.bin/$cmd" ] || { say "FAIL: $cmd is not the installed one"; exit 1; }
  "$cmd" --version | grep -Eq "^$cmd [0-9]+\.[0-9]+\.[0-9]+$" || { say "FAIL: $cmd --version"; exit 1; }
  "$cmd" --help >/dev/null
done
acgc check "$pkg"/policies/*.acg 2>&1 | grep -q "3 files checked: 0 errors"
acgc check - <"$pkg/policies/minimal.acg" 2>&1 | grep -q "1 file checked: 0 errors"
acgc compile "$pkg/policies/swe-agents.acg" -o "$work/out" --dry-run >/dev/null
[ -f "$work/out/manifest.json" ] || { say "FAIL: compile --dry-run wrote no manifest"; exit 1; }
echo '{"session_id":"s1","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_use_id":"t1"}' | acg hook claude | grep -q '"command":"acg run --agent claude-s1 --tool Bash --label claude:t1 --quiet -- bash -c ls"'
node --input-type=module -e 'const m = await import("agentcgroup/client"); if (m.PROTOCOL_VERSION !== 1 || typeof m.AgentCgroupClient.connect !== "function") process.exit(1);'
# What a missing native part says: acg run's launcher is built on demand; acgd's loader names its build.
[ ! -e "$pkg/native/build" ] || { say "FAIL: a native build was shipped in the package"; exit 1; }
say "ok: acgc, acg, acgd and agentcgroup/client work from the installed package"
