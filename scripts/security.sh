#!/usr/bin/env bash
# Static security checks: bandit on our code (no medium/high findings allowed) and pip-audit on
# the pinned runtime requirements. pip-audit needs PyPI's JSON API or OSV; where neither is
# reachable it can audit nothing, and we say so instead of reporting a clean result.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

echo "bandit: layers/common/job_alerts functions local"
"$VENV/bin/bandit" -q -r layers/common/job_alerts functions local -ll

echo "pip-audit: layers/common/requirements.txt"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$VENV/bin/pip-audit" --progress-spinner off -r layers/common/requirements.txt >"$report" 2>&1 || {
  cat "$report"
  exit 1
}
cat "$report"
if grep -q "could not be audited" "$report"; then
  echo "pip-audit: WARNING: the vulnerability service is unreachable from here; the packages above were NOT audited" >&2
fi
