#!/usr/bin/env bash
# Template checks for CI and `make validate`/`make build`: cfn-lint, sam validate --lint, and a
# Docker-free `sam build` into .aws-sam/build (the e2e tests import the handlers from there).
# Needs the tools virtualenv (.venv-tools, created by `make dev-tools`).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

tools="$repo_root/.venv-tools/bin"
for tool in cfn-lint sam; do
    if [[ ! -x "$tools/$tool" ]]; then
        echo "sam-checks: $tools/$tool not found; run 'make dev-tools' first" >&2
        exit 2
    fi
done

export SAM_CLI_TELEMETRY=0

step() {
    local name="$1"
    shift
    echo "sam-checks: $name: $*"
    local start=$SECONDS
    "$@"
    echo "sam-checks: $name passed in $((SECONDS - start)) s"
}

step cfn-lint "$tools/cfn-lint" template.yaml
step "sam validate" "$tools/sam" validate --lint --template-file template.yaml
step "sam build" "$tools/sam" build --template-file template.yaml --build-dir .aws-sam/build
echo "sam-checks: all passed; build output in .aws-sam/build"
