"""Shared fixtures: a Lambda context, sample events, moto server, the local stack provisioned from
template.yaml, the Bright Data simulator, and a monitor environment wired to all of them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from job_alerts import factory
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack, MotoServer, provision

pytest_plugins = ["tests.iam_recorder"]

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SIM_TOKEN = "sim-token-0123456789abcdef"
# Simulated "now" at the start of every test that uses the shared clock.
T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def load_event(name: str) -> dict[str, Any]:
    """One of events/*.json, exactly as `sam local invoke -e` would send it."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@dataclass
class FakeLambdaContext:
    function_name: str = "job-alerts-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:job-alerts-test"
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    remaining_ms: int = 240_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def _fresh_factories(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cached settings and clients must not leak between tests (each test sets its own env)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "BrightDataJobAlerts")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    _reset_cached_clients()
    yield
    _reset_cached_clients()


def _reset_cached_clients() -> None:
    from aws_lambda_powertools.utilities import parameters

    factory.settings.cache_clear()
    factory.aws_client.cache_clear()
    # Powertools keeps its parameter providers (and their boto3 clients, bound to whatever
    # endpoint was current) for the process: drop them with the values.
    parameters.clear_caches()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def stack(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """A fresh table, topic and subscription queues on moto server; boto3 pointed at it."""
    created = provision(moto_server.url)
    for key, value in created.env().items():
        monkeypatch.setenv(key, value)
    return created


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The test's one time source: the simulator, the monitor (also when built by a handler or
    the CLI through `factory.clock`) and the test itself read it, so no test depends on the date
    it runs on."""
    shared = ManualClock(T0)
    monkeypatch.setattr(factory, "clock", lambda: shared)
    return shared


@pytest.fixture
def simulator(clock: ManualClock) -> Iterator[BrightDataSimulator]:
    with BrightDataSimulator(token=SIM_TOKEN, clock=clock) as sim:
        yield sim


@pytest.fixture
def monitor_env(
    stack: LocalStack, simulator: BrightDataSimulator, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., None]:
    """Environment of the monitor Lambda, pointed at the simulator and the local stack.
    Call it with overrides, e.g. monitor_env(ALARM_AFTER="2")."""

    def apply(**overrides: str) -> None:
        monkeypatch.setenv("BRIGHTDATA_API_URL", simulator.url)
        monkeypatch.setenv("BRIGHTDATA_API_TOKEN", SIM_TOKEN)
        for key, value in overrides.items():
            monkeypatch.setenv(key, value)
        factory.settings.cache_clear()

    apply()
    return apply
