#!/usr/bin/env bash
# Mutation testing with mutmut (3.x) on the alert rules and renderings, against tests/unit only.
# mutmut wants a src-like layout, so it runs in a throwaway copy of what the unit tests need.
# Usage: scripts/mutation.sh [module ...]   (default: rules joblog thresholds alerts)
# Prints the score as killed / total; survivors are listed by `mutmut results` in the work dir.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV_BIN="${VENV_BIN:-$ROOT/.venv/bin}"
MODULES=("${@:-rules joblog thresholds alerts}")
read -r -a MODULES <<<"${MODULES[*]}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/job-alerts-mutation.XXXXXX")"
echo "work dir: $WORK"

mkdir -p "$WORK/src"
cp -r "$ROOT/layers/common/job_alerts" "$WORK/src/job_alerts"
# Unit tests also read the README, template, functions/ ...: copy the working tree's files.
(cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^pyproject.toml$' |
  xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$WORK"
also=$(cd "$WORK" && for f in *; do [[ "$f" != src ]] && printf '"%s", ' "$f"; done)

# Mutate only the chosen modules; `alerts` is a module or (after its refactor) a package.
only=""
for module in "${MODULES[@]}"; do
  [[ -f "$WORK/src/job_alerts/$module.py" ]] && only+="\"src/job_alerts/$module.py\", "
  [[ -d "$WORK/src/job_alerts/$module" ]] && only+="\"src/job_alerts/$module/*.py\", "
done
[[ -n "$only" ]] || { echo "no such module: ${MODULES[*]}" >&2; exit 2; }

cat >"$WORK/pyproject.toml" <<TOML
[tool.pytest.ini_options]
pythonpath = [".", "src"]
addopts = "-p no:cacheprovider"
markers = ["integration: x", "e2e: x", "soak: x"]

[tool.mutmut]
source_paths = ["src"]
only_mutate = [${only%, }]
also_copy = [${also%, }]
pytest_add_cli_args_test_selection = ["tests/unit"]
TOML

cd "$WORK"
"$VENV_BIN/mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" >mutmut-run.log 2>&1 || {
  tail -n 30 mutmut-run.log >&2
  exit 1
}
"$VENV_BIN/mutmut" results --all true >results.txt
total=$(grep -c ': ' results.txt || true)
killed=$(grep -c ': killed$' results.txt || true)
echo "mutation score (${MODULES[*]}): $killed killed / $total total"
grep -v ': killed$' results.txt | awk -F': ' '{print $2}' | sort | uniq -c || true
