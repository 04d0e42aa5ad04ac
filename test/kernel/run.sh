#!/usr/bin/env bash
# Called by scripts/test.sh after the host suite (set-up already done there).
set -euo pipefail
cd "$(dirname "$0")/../.."
ACG_SETUP_DONE=1 exec bash scripts/test-kernel.sh
