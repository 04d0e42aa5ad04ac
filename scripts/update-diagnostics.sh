#!/usr/bin/env bash
# Regenerates what is derived from the diagnostics table and the checker:
# - the table of codes in docs/diagnostics.md, from compiler/diagnostic-messages.ts;
# - the expected output of every diagnostics fixture
#   (test/compiler/diagnostics/NAME.acg → NAME.expected) from the current acgc,
# so that a change in wording is reviewed as a diff:
#   bash scripts/update-diagnostics.sh && git diff docs/diagnostics.md test/compiler/diagnostics
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
node dist/scripts/diagnostics-doc.js
for f in test/compiler/diagnostics/*.acg; do
  set +e
  err=$(node bin/acgc.js check "$f" 2>&1 >/dev/null)
  code=$?
  set -e
  printf '%s\nexit=%s\n' "$err" "$code" >"${f%.acg}.expected"
done
echo "updated docs/diagnostics.md and $(ls test/compiler/diagnostics/*.acg | wc -l) fixtures; review with: git diff docs/diagnostics.md test/compiler/diagnostics" >&2
