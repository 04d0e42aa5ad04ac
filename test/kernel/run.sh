#!/usr/bin/env bash
# Called by scripts/test.sh after the host suite (set-up already done there):
# the kernel suite (every policy loaded, verified and exercised), the
# runtime's guest tests (acgd, acg run, fallback enforcement, hot swap, the
# pressure ladder), then the security and fault suite (identity, exhaustion,
# state damage, the inspector; issue 11). Each is one guest boot; all always
# run, and any failing fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
ACG_SETUP_DONE=1 bash scripts/test-kernel.sh || status=1
bash test/kernel/runtime.sh || status=1
bash test/kernel/security.sh || status=1
exit "$status"
