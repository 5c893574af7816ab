#!/usr/bin/env bash
# Lock files: every short input list (*.in) resolved by uv into a fully pinned lock (*.txt) with
# the hashes of every file PyPI has for each pinned version, valid on every platform (the layer
# is built for arm64, developers run x86_64 or macOS).
#
#   scripts/locks.sh compile   rewrite the locks from their inputs, keeping every pin that still
#                              fits (`make lock`; add --upgrade to take newer releases)
#   scripts/locks.sh check     fail, naming the lock and showing the difference, when a lock is
#                              not exactly what its input resolves to (`make lock-check`, CI)
#
# Deterministic: uv sees PyPI as it was at INDEX_DATE (files uploaded later do not exist for it),
# ignores this machine's pip and uv configuration, and prefers the pins already in the lock. So
# the check gives the same answer today and next year; to take releases newer than INDEX_DATE,
# move it and run `make lock ARGS=--upgrade`.
set -euo pipefail
cd "$(dirname "$0")/.."

INDEX_DATE=2026-12-01T00:00:00Z
UV=${UV:-.venv-uv/bin/uv}

# input -> lock, in dependency order: the dev lock is constrained by the layer's lock.
LOCKS=(
    "layers/common/requirements.in layers/common/requirements.txt"
    "requirements-dev.in requirements-dev.txt"
    "requirements-tools.in requirements-tools.txt"
    "requirements-fullstack.in requirements-fullstack.txt"
    "requirements-uv.in requirements-uv.txt"
)

resolve() {  # resolve INPUT into OUTPUT (pins already in OUTPUT are preferred); extra args to uv
    local input=$1 output=$2
    shift 2
    "$UV" pip compile --quiet --no-config --universal --python-version 3.11 --generate-hashes \
        --exclude-newer "$INDEX_DATE" --index-url https://pypi.org/simple \
        --custom-compile-command "make lock" "$input" --output-file "$output" "$@"
}

mode=${1:-}
shift || true
case "$mode" in
compile)
    for pair in "${LOCKS[@]}"; do
        read -r input lock <<<"$pair"
        echo "lock: $input -> $lock"
        resolve "$input" "$lock" "$@"
    done
    ;;
check)
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    stale=0
    for pair in "${LOCKS[@]}"; do
        read -r input lock <<<"$pair"
        fresh="$scratch/$(basename "$lock")"
        if [[ -f "$lock" ]]; then
            cp "$lock" "$fresh"
        fi
        if ! resolve "$input" "$fresh"; then
            echo "lock-check: $input does not resolve (see above); fix it, then run 'make lock'" >&2
            stale=1
            continue
        fi
        if diff -u --label "$lock (committed)" --label "$lock (from $input)" "$lock" "$fresh"; then
            echo "lock-check: $lock is up to date with $input"
        else
            echo "lock-check: $lock is STALE: it is not what $input resolves to; run 'make lock'" >&2
            stale=1
        fi
    done
    exit "$stale"
    ;;
*)
    echo "usage: $0 compile [uv args] | check" >&2
    exit 2
    ;;
esac
