#!/usr/bin/env bash
# Regenerates the expected output of every diagnostics fixture
# (test/compiler/diagnostics/NAME.acg → NAME.expected) from the current acgc,
# so that a change in wording is reviewed as a diff:
#   bash scripts/update-diagnostics.sh && git diff test/compiler/diagnostics
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
for f in test/compiler/diagnostics/*.acg; do
  set +e
  err=$(node bin/acgc.js check "$f" 2>&1 >/dev/null)
  code=$?
  set -e
  printf '%s\nexit=%s\n' "$err" "$code" >"${f%.acg}.expected"
done
echo "updated $(ls test/compiler/diagnostics/*.acg | wc -l) fixtures; review with: git diff test/compiler/diagnostics" >&2
