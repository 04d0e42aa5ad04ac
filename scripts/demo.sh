#!/usr/bin/env bash
# The main job: set up, then check and format-check the shipped policies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

bash scripts/setup.sh
echo "== acgc check policies/*.acg"
npx acgc check policies/*.acg
echo "== acgc fmt --check policies/*.acg"
npx acgc fmt --check policies/*.acg
echo "all shipped policies are valid and canonically formatted"
