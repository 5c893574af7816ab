# Developer commands. Every target creates what it needs itself (virtualenvs included).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
TOOLS := .venv-tools
FULLSTACK := .venv-fullstack
UVENV := .venv-uv
PY := $(VENV)/bin/python
PIP_FLAGS := --quiet --disable-pip-version-check
# Every virtualenv installs from a lock (scripts/locks.sh): every package pinned, with hashes.
# --no-deps: the lock is the whole closure, so pip installs exactly it and resolves nothing (a
# dependency asked for with extras, like aws-sam-cli's boto3-stubs[...], would otherwise make
# pip look past the lock on a fresh machine and refuse the unpinned result).
LOCKED := --require-hashes --no-deps
export SAM_CLI_TELEMETRY := 0

.PHONY: help dev dev-tools demo run test test-timeshift test-fast lint format typecheck build validate sam-checks \
	security bench soak fuzz ci clean mutation lock lock-check fullstack fullstack-negative

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) $(LOCKED) -r requirements-dev.txt
	$(PY) -m pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

$(TOOLS)/.installed: requirements-tools.txt
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install $(PIP_FLAGS) $(LOCKED) -r requirements-tools.txt
	@touch $@

$(FULLSTACK)/.installed: requirements-fullstack.txt
	@test -x $(FULLSTACK)/bin/python || $(PYTHON) -m venv $(FULLSTACK)
	$(FULLSTACK)/bin/python -m pip install $(PIP_FLAGS) $(LOCKED) -r requirements-fullstack.txt
	@touch $@

$(UVENV)/.installed: requirements-uv.txt
	@test -x $(UVENV)/bin/python || $(PYTHON) -m venv $(UVENV)
	$(UVENV)/bin/python -m pip install $(PIP_FLAGS) $(LOCKED) -r requirements-uv.txt
	@touch $@

dev: $(VENV)/.installed ## create the app virtualenv (.venv) with runtime + dev dependencies
dev-tools: $(TOOLS)/.installed ## create the tools virtualenv (.venv-tools): aws-sam-cli, cfn-lint

demo: dev ## run the monitor locally against the simulator + moto server and show the alerts
	$(PY) -m local.demo $(ARGS)

test: dev ## run the whole test suite (unit + integration over local servers)
	$(PY) -m pytest $(PYTEST_ARGS)

test-timeshift: dev ## integration and e2e tests with every Python process's wall clock a year ahead
	PYTHONPATH=tests/timeshift JOB_ALERTS_TIME_SHIFT_DAYS=365 $(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

test-fast: dev ## unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: dev ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev ## apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: dev ## mypy on the shared package, the handlers, the local kit and the scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy local scripts
	@# each handler is a module named `app`: checked one at a time
	for handler in functions/*/app.py; do $(VENV)/bin/mypy "$$handler" || exit 1; done

security: dev ## bandit on our code, pip-audit on the pinned runtime requirements
	bash scripts/security.sh

validate: dev-tools ## cfn-lint + sam validate --lint
	$(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint

build: dev-tools ## sam build (no Docker needed)
	$(TOOLS)/bin/sam build

sam-checks: dev-tools ## cfn-lint, sam validate --lint and sam build, as CI runs them
	bash scripts/sam-checks.sh

bench: dev ## benchmarks (writes BENCHMARKS.md)
	$(PY) -m scripts.bench $(ARGS)

soak: dev ## 50 runs over a simulator with random faults
	$(PY) -m pytest -m soak tests/integration -s $(PYTEST_ARGS)

fuzz: dev ## the property test of the whole monitor with fresh seeds and many more examples (EXAMPLES=400)
	JOB_ALERTS_FUZZ=1 JOB_ALERTS_FUZZ_EXAMPLES=$(or $(EXAMPLES),400) $(PY) -m pytest tests/property -s $(PYTEST_ARGS)

ci: lock-check lint typecheck security sam-checks test test-timeshift fullstack-negative fullstack ## everything CI runs

lock: $(UVENV)/.installed ## rewrite the lock files (*.txt) from their inputs (*.in); ARGS=--upgrade for newer releases
	bash scripts/locks.sh compile $(ARGS)

lock-check: $(UVENV)/.installed ## fail when a lock file is not what its input (*.in) resolves to
	bash scripts/locks.sh check

fullstack: dev build $(FULLSTACK)/.installed ## deploy the built template on the ministack emulator and drive it whole
	FULLSTACK=1 $(PY) -m pytest tests/fullstack $(PYTEST_ARGS)

fullstack-negative: dev build $(FULLSTACK)/.installed ## prove the full-stack tier fails when the monitor may not dynamodb:Query
	bash scripts/fullstack-negative.sh $(PYTEST_ARGS)

clean: ## remove virtualenvs and build output
	rm -rf $(VENV) $(TOOLS) $(FULLSTACK) $(UVENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

mutation: dev ## mutmut on rules/joblog/thresholds/alerts against tests/unit (slow); prints the score
	bash scripts/mutation.sh $(ARGS)
