"""The shared Logger/Metrics/Tracer: handlers import without the X-Ray SDK, the Tracer is built
only when a traced handler runs with tracing on, and the Powertools decorators still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from job_alerts import factory
from job_alerts.config import Settings
from job_alerts.observability import (
    LazyTracer,
    bind_metric_dimensions,
    logger,
    metric_dimensions,
    metrics,
    tracer,
)
from tests.conftest import load_event
from tests.support import load_function

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"


def _python(code: str, **env: str) -> str:
    """Run code in a fresh interpreter (X-Ray patches process-wide: keep it out of this one)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    base.pop("LAMBDA_TASK_ROOT", None)
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(LAYER)])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("function", ["monitor", "slack_notifier", "intake"])
def test_observability_handler_import_leaves_xray_unloaded(function: str) -> None:
    # Given a fresh interpreter with the function dir and the layer on sys.path, as in Lambda
    code = f"""
        import sys
        sys.path[:0] = [{str(ROOT / "functions" / function)!r}, {str(LAYER)!r}]
        import app
        print("aws_xray_sdk" in sys.modules, callable(app.handler))
    """
    # When the handler module is imported (in a Lambda-like environment, tracing on)
    # Then the X-Ray SDK is not imported yet
    assert _python(code, LAMBDA_TASK_ROOT=str(ROOT)) == "False True"


def test_observability_traced_handler_builds_tracer_on_first_call_when_enabled() -> None:
    # Given tracing on (inside Lambda, not disabled) and a handler decorated like ours
    code = """
        import sys
        from job_alerts.observability import tracer

        @tracer.capture_lambda_handler(capture_response=False)
        def handler(event, context):
            return {"n": event["n"]}

        before = "aws_xray_sdk" in sys.modules
        # When it is invoked twice
        results = [handler({"n": 1}, None), handler({"n": 2}, None)]
        print(before, "aws_xray_sdk" in sys.modules, tracer.built, results[1]["n"])
    """
    out = _python(
        code,
        LAMBDA_TASK_ROOT=str(ROOT),
        AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    # Then X-Ray was loaded by the first call, not by the import, and the handler still answers
    assert out == "False True True 2"


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({}, False),  # outside Lambda there is no X-Ray daemon to send to
    ],
)
def test_observability_tracing_enabled_follows_powertools_rule(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], enabled: bool
) -> None:
    # Given an environment
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # When asked, Then the lazy tracer agrees with Powertools' own rule
    assert LazyTracer.enabled() is enabled


def test_observability_decorators_run_handler_with_tracing_disabled(
    lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given POWERTOOLS_TRACE_DISABLED=true (conftest) and the three decorators our handlers use
    seen_keys: dict[str, Any] = {}

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_metric(name="ObservabilityProbe", unit="Count", value=1)
        seen_keys.update(logger.get_current_keys())
        return {"echo": event["value"]}

    # When invoked with a fake Lambda context
    result = handler({"value": 42}, lambda_context)

    # Then it answers, logs with the context, flushes its metric, and never built X-Ray
    assert result == {"echo": 42}
    assert seen_keys["function_request_id"] == lambda_context.aws_request_id
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert any("ObservabilityProbe" in blob for blob in blobs)
    assert not tracer.built
    assert handler.__name__ == "handler"


class FakeTracer:
    def __init__(self) -> None:
        self.wrapped: list[dict[str, Any]] = []
        self.annotations: dict[str, Any] = {}

    def capture_lambda_handler(
        self, handler: Callable[..., Any], **options: Any
    ) -> Callable[..., Any]:
        self.wrapped.append(options)

        def traced(event: Any, context: Any) -> Any:
            return ("traced", handler(event, context))

        return traced

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


def test_observability_enabled_tracer_wraps_once_and_passes_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given tracing on and a stand-in for the real Tracer
    fake = FakeTracer()
    lazy = LazyTracer("test")
    monkeypatch.setattr(LazyTracer, "enabled", staticmethod(lambda: True))
    monkeypatch.setattr(lazy, "resolve", lambda: fake)

    @lazy.capture_lambda_handler(capture_response=False)
    def handler(event: int, context: Any) -> int:
        return event * 2

    # When the handler is called twice
    results = [handler(1, None), handler(2, None)]

    # Then the real tracer wrapped it once, with our options, and every call went through it
    assert results == [("traced", 2), ("traced", 4)]
    assert fake.wrapped == [{"capture_response": False, "capture_error": None}]


def test_observability_other_tracer_calls_reach_the_real_tracer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a lazy tracer whose real Tracer is a stand-in
    fake = FakeTracer()
    lazy = LazyTracer("test")
    monkeypatch.setattr(lazy, "resolve", lambda: fake)
    # When a method the proxy does not define is used, Then the real Tracer receives it
    lazy.put_annotation("Collector", "c_x")
    assert fake.annotations == {"Collector": "c_x"}
    with pytest.raises(AttributeError):
        _ = lazy._private  # private names are never forwarded (keeps copy/pickle sane)


@pytest.fixture
def stack_metrics() -> Iterator[None]:
    """The shared metrics, with whatever stack dimension a test binds dropped afterwards."""
    yield
    metrics.clear_default_dimensions()
    metrics.clear_metrics()


def _emf_records(out: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    return [line for line in lines if "_aws" in line]


def test_observability_metrics_carry_the_service_and_stack_the_alarms_read(
    capsys: pytest.CaptureFixture[str], stack_metrics: None
) -> None:
    # Given the shared metrics bound to a stack (the dashboard and the alarms select metrics by
    # the dimensions service=job-alerts and stack=<stack name> in namespace BrightDataJobAlerts)
    bind_metric_dimensions(Settings(stack_name="prod"))

    # When a handler emits a metric
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> None:
        metrics.add_metric(name="ServiceProbe", unit="Count", value=1)

    handler({}, None)

    # Then it lands in the app's namespace under exactly those two dimensions
    metric = next(blob for blob in _emf_records(capsys.readouterr().out) if "ServiceProbe" in blob)
    assert (metric["service"], metric["stack"]) == ("job-alerts", "prod")
    (directive,) = metric["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "BrightDataJobAlerts"
    assert directive["Dimensions"] == [["service", "stack"]]


@pytest.mark.parametrize(
    ("environ", "stack"),
    [({"STACK_NAME": "prod"}, "prod"), ({"STACK_NAME": "staging"}, "staging"), ({}, "local")],
)
def test_observability_metric_dimensions_name_the_stack_from_its_settings(
    environ: dict[str, str], stack: str
) -> None:
    # Given the settings a function reads (the template passes STACK_NAME; a local run has none)
    cfg = Settings.from_env(environ)
    # Then its metrics are told apart by the stack, and a local run says so
    assert metric_dimensions(cfg) == {"service": "job-alerts", "stack": stack}


def test_observability_slack_notifier_metrics_name_its_stack(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lambda_context: Any,
    stack_metrics: None,
) -> None:
    # Given the Slack notifier of the stack "prod", its delivery replaced by one that posts one
    # message (the delivery itself is tested in tests/integration/test_delivery.py)
    monkeypatch.setattr(factory, "settings", lambda: Settings(stack_name="prod"))
    app = load_function("slack_notifier")
    once = SimpleNamespace(register_lambda_context=lambda context: None)
    monkeypatch.setattr(app, "_once", lambda: once)
    monkeypatch.setattr(app, "_webhook_url", lambda: "https://hooks.example/x")
    report = SimpleNamespace(posted=("m-1",), duplicates=())
    monkeypatch.setattr(app, "deliver_sns_event", lambda *args, **kwargs: report)

    # When it handles an alert
    app.handler(load_event("sns_alert.json"), lambda_context)

    # Then its metrics carry the stack's dimensions, like the monitor's
    [record] = _emf_records(capsys.readouterr().out)
    assert record["SlackMessagesPosted"] == [1]
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "stack"]]
    assert (record["service"], record["stack"]) == ("job-alerts", "prod")
