#!/usr/bin/env bash
# Negative proof of the full-stack tier: deploy a copy of the template whose monitor policy lacks
# dynamodb:Query. The emulator enforces IAM (AUTH=true), so the tier must fail, and fail on that
# denial; if it passes, the tier could not have noticed a missing permission.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
FULLSTACK=1 FULLSTACK_DROP_MONITOR_ACTION=dynamodb:Query \
    .venv/bin/python -m pytest tests/fullstack -x -q -p no:cacheprovider "$@" >"$log" 2>&1
status=$?
if [[ $status -eq 0 ]]; then
    echo "fullstack-negative: the tier PASSED without dynamodb:Query: it cannot see IAM gaps" >&2
    exit 1
fi
if ! grep -q "not authorized to perform: dynamodb:Query" "$log"; then
    echo "fullstack-negative: the tier failed, but not on the dynamodb:Query denial:" >&2
    tail -40 "$log" >&2
    exit 1
fi
echo "fullstack-negative: as expected, the tier failed on the emulator's denial:"
grep -m1 -E "^FAILED " "$log"
grep -m1 -o "AccessDeniedException[^\\]*dynamodb:Query action" "$log"
