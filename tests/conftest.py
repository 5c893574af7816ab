"""Shared fixtures: a Lambda context, sample events, moto server, the local stack provisioned from
template.yaml, the Bright Data simulator, the shared clock, and `configure`, which gives the
monitor Settings wired to all of them. Helpers that are not fixtures are in tests/support.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from job_alerts import factory
from job_alerts.config import Settings
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack, MotoServer, provision

pytest_plugins = ["tests.iam_recorder"]

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SIM_TOKEN = "sim-token-0123456789abcdef"
# Simulated "now" at the start of every test that uses the shared clock.
T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
# configure(**overrides) -> the Settings installed for the test.
Configure = Callable[..., Settings]
# The real cached accessors, so they can be cleared while a test has replaced them.
_CACHED = (factory.settings, factory.aws_client)


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
    """Cached settings and clients must not leak between tests."""
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

    for cached in _CACHED:
        cached.cache_clear()
    # Powertools keeps its parameter providers (and their boto3 clients, bound to whatever
    # endpoint was current) for the process: drop them with the values.
    parameters.clear_caches()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def stack(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """A fresh table, topic and subscription queues on moto server; boto3 pointed at it. The
    variables set here are boto3's own; the monitor finds the table and topic through
    `configure`."""
    created = provision(moto_server.url)
    for key, value in created.aws_env().items():
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


def _monitor_variables(stack: LocalStack, simulator: BrightDataSimulator) -> dict[str, str]:
    """The monitor's configuration, as the variables a deployed function is given, pointed at the
    local stack and the simulator."""
    return {
        "TABLE_NAME": stack.table_name,
        "TOPIC_ARN": stack.topic_arn,
        "BRIGHTDATA_API_URL": simulator.url,
        "BRIGHTDATA_API_TOKEN": SIM_TOKEN,
    }


@pytest.fixture
def configure(
    stack: LocalStack, simulator: BrightDataSimulator, monkeypatch: pytest.MonkeyPatch
) -> Configure:
    """How a test configures the monitor. Overrides use the deployed variable names and add up
    over the test: configure(ALARM_AFTER="2", ALARM_WINDOW="3") builds Settings (parsed as in
    production, by Settings.from_env) from the monitor's variables pointed at the stack and the
    simulator plus every override so far, installs them as factory.settings() for whatever the
    test runs (monitor builders, handlers) and returns them. The process environment is not
    touched. Called once with no overrides before the test starts."""
    variables = _monitor_variables(stack, simulator)

    def apply(**overrides: str) -> Settings:
        variables.update(overrides)
        cfg = Settings.from_env(variables)
        monkeypatch.setattr(factory, "settings", lambda: cfg)
        return cfg

    apply()
    return apply


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Only for tests whose subject is a function reading its real process environment: the
    deployed variable contract, the IAM checks (the recorder names the secrets and parameters a
    function reads by the variables that hold them) and the CLI. Sets the variables (None unsets
    one) and drops the cached Settings so the next factory.settings() reads them. Everything
    else uses `configure`."""

    def apply(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        factory.settings.cache_clear()

    return apply


@pytest.fixture
def monitor_env(
    stack: LocalStack, simulator: BrightDataSimulator, lambda_env: Callable[..., None]
) -> Callable[..., None]:
    """The monitor's variables, pointed at the stack and the simulator, set in the process
    environment, for the CLI tests: the CLI reads os.environ itself. Call it with overrides, e.g.
    monitor_env(ALARM_AFTER="2"); each call sets the Bright Data URL and token again. Other tests
    use `configure`."""
    variables = _monitor_variables(stack, simulator)
    lambda_env(TABLE_NAME=variables.pop("TABLE_NAME"), TOPIC_ARN=variables.pop("TOPIC_ARN"))

    def apply(**overrides: str) -> None:
        lambda_env(**{**variables, **overrides})

    apply()
    return apply


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """The CLI's main(argv) in-process: (exit code, stdout, stderr). The simulator's token never
    shows in either stream, whatever the command."""
    from job_alerts import cli

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        assert SIM_TOKEN not in captured.out + captured.err
        return code, captured.out, captured.err

    return run
