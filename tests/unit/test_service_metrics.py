"""The run's metrics: one batch of run totals and one EMF record per per-collector, per-reason and
per-error-kind series, named as the dashboard's SEARCH expressions expect, each carrying the
dimensions of the stack that emitted it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from job_alerts.config import Settings
from job_alerts.monitor import RunSummary
from job_alerts.observability import metrics
from job_alerts.service import emit_dimensioned_metrics, emit_metrics

Emitter = Callable[[RunSummary, Settings], None]


@pytest.fixture(autouse=True)
def _metrics_to_stdout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """EMF records printed (not disabled), and no stack dimension left behind for other tests."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    yield
    _forget_stack()


def _forget_stack() -> None:
    metrics.clear_default_dimensions()
    metrics.clear_metrics()


def _summary() -> RunSummary:
    """A run that judged two collectors, met two kinds of API errors and one unjudgeable answer."""
    summary = RunSummary(run_id="r1", started_at=datetime(2026, 11, 29, tzinfo=UTC))
    summary.collectors = {
        "c_a": {"jobs_read": 3, "findings": 1},
        "c_b": {"jobs_read": 5, "findings": 0},
    }
    summary.read_errors = {"Transient": 2, "RateLimited": 1}
    summary.unjudgeable = {"html": 1}
    summary.findings = {"job_failed": 1}
    return summary


def _emit_run_totals(summary: RunSummary, cfg: Settings) -> None:
    emit_metrics(summary, cfg)
    metrics.flush_metrics()


def _records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line]


def _dimensions(record: dict[str, Any]) -> dict[str, str]:
    """The one dimension set of an EMF record, with its values."""
    [directive] = record["_aws"]["CloudWatchMetrics"]
    [names] = directive["Dimensions"]
    return {name: record[name] for name in names}


def test_emit_dimensioned_metrics_one_record_per_collector_and_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a run that judged two collectors and met two kinds of API errors
    cfg = Settings(stack_name="prod")
    # When its dimensioned metrics are emitted
    emit_dimensioned_metrics(_summary(), cfg)
    records = _records(capsys.readouterr().out)
    # Then each collector has its jobs-read and findings series, each error kind and reason its
    # own, every one beside the service and stack dimensions
    seen = set()
    for record in records:
        [directive] = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "BrightDataJobAlerts"
        [metric] = directive["Metrics"]
        dimensions = _dimensions(record)
        [(extra, key)] = [(k, v) for k, v in dimensions.items() if k not in {"service", "stack"}]
        assert extra in {"collector", "kind", "reason"}
        assert (dimensions["service"], dimensions["stack"]) == ("job-alerts", "prod")
        seen.add((metric["Name"], key, *record[metric["Name"]]))
    assert seen == {
        ("CollectorJobsRead", "c_a", 3),
        ("CollectorFindings", "c_a", 1),
        ("CollectorJobsRead", "c_b", 5),
        ("CollectorFindings", "c_b", 0),
        ("UnjudgeableAnswersByReason", "html", 1),
        ("ApiErrorsByKind", "Transient", 2),
        ("ApiErrorsByKind", "RateLimited", 1),
    }


@pytest.mark.parametrize("emit", [_emit_run_totals, emit_dimensioned_metrics])
def test_emit_metrics_two_stacks_write_two_series(
    capsys: pytest.CaptureFixture[str], emit: Emitter
) -> None:
    # Given the same run in two stacks of one account and region
    stacks = ("prod", "staging")
    # When each emits its metrics
    emitted = {}
    for name in stacks:
        emit(_summary(), Settings.from_env({"STACK_NAME": name}))
        emitted[name] = [_dimensions(record) for record in _records(capsys.readouterr().out)]
        _forget_stack()  # each stack is its own process
    # Then every record names the stack that emitted it
    for name, dimension_sets in emitted.items():
        assert dimension_sets
        assert {dims["stack"] for dims in dimension_sets} == {name}
    # and apart from the stack the two series are the same, so one alarm per stack reads each
    prod, staging = ([{**dims, "stack": "-"} for dims in emitted[name]] for name in stacks)
    assert prod == staging


@pytest.mark.parametrize("emit", [_emit_run_totals, emit_dimensioned_metrics])
def test_emit_metrics_outside_a_stack_say_local(
    capsys: pytest.CaptureFixture[str], emit: Emitter
) -> None:
    # Given no STACK_NAME (a local run, the demo, the benchmark)
    cfg = Settings.from_env({})
    # When the run's metrics are emitted
    emit(_summary(), cfg)
    # Then they carry stack=local, a series no deployed stack's alarm reads
    records = _records(capsys.readouterr().out)
    assert records
    assert {_dimensions(record)["stack"] for record in records} == {"local"}
