"""The delivery promise as a property of the whole monitor (see `machine`): in CI a fixed,
bounded set of examples; `make fuzz` (JOB_ALERTS_FUZZ=1) many more and longer ones, from fresh
seeds, keeping what fails in .hypothesis/ so the next `make fuzz` replays it first."""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import run_state_machine_as_test
from moto import mock_aws

from local.stack import FAKE_CREDENTIALS, provision
from tests.conftest import ROOT
from tests.property.machine import MonitorMachine, World

FUZZ = os.environ.get("JOB_ALERTS_FUZZ", "") not in ("", "0")

_COMMON = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
    # No explain phase: tracing every line of whole monitor runs makes a failing test crawl.
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    verbosity=Verbosity.normal,
)
# CI: the same examples every run (derandomize, no database), few enough for well under two
# minutes on two cores while passing. A failure is then shrunk, which takes longer (Hypothesis
# gives up shrinking after five minutes): the timeout below leaves it room to print the steps.
CI = settings(
    _COMMON,
    max_examples=int(os.environ.get("JOB_ALERTS_PROPERTY_EXAMPLES", "100")),
    stateful_step_count=20,
    derandomize=True,
    database=None,
)
FUZZED = settings(
    _COMMON,
    max_examples=int(os.environ.get("JOB_ALERTS_FUZZ_EXAMPLES", "400")),
    stateful_step_count=60,
    derandomize=False,
    database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "property")),
)

pytestmark = pytest.mark.timeout(0 if FUZZ else 900)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """moto in-process with the stack provisioned from template.yaml; the variables the IAM
    recorder reads name its table and topic (so the monitor's calls are still checked against
    its role); the product's backoff sleeps skipped; the monitor's log lines quietened."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    _skip_sleeps(monkeypatch)
    from job_alerts.observability import logger

    level = logger.log_level
    logger.setLevel("CRITICAL")
    try:
        with mock_aws():
            # endpoint None: boto3's own endpoints, which mock_aws answers in-process.
            stack = provision(None)  # type: ignore[arg-type]
            monkeypatch.setenv("TABLE_NAME", stack.table_name)
            monkeypatch.setenv("TOPIC_ARN", stack.topic_arn)
            yield World(stack)
    finally:
        logger.setLevel(level)


def _skip_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff sleeps in the product's modules return at once: the runs share a manual clock,
    and a real sleep would only make the test slow."""
    quick = types.SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    )
    quick.sleep = lambda _seconds: None
    for name, module in list(sys.modules.items()):
        if name.startswith("job_alerts") and getattr(module, "time", None) is time:
            monkeypatch.setattr(module, "time", quick)


def test_monitor_keeps_its_delivery_promise(world: World) -> None:
    MonitorMachine.world = world
    MonitorMachine.tally.clear()
    try:
        run_state_machine_as_test(MonitorMachine, settings=FUZZED if FUZZ else CI)
    finally:
        tally = "\n  ".join(f"{k}: {v}" for k, v in sorted(MonitorMachine.tally.items()))
        print(f"\nproperty test covered:\n  {tally}")
