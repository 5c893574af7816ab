"""Entry points the Lambda handlers and the CLI share: one monitor run, tracking jobs handed in,
with metrics emitted from the run summary under the stack's dimensions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from job_alerts import factory
from job_alerts.brightdata import InvalidId, validate_job_id
from job_alerts.config import Settings
from job_alerts.models import JobRecord
from job_alerts.observability import (
    NAMESPACE,
    bind_metric_dimensions,
    logger,
    metric_dimensions,
    metrics,
)
from job_alerts.state import StateStore
from job_alerts.timeutil import ttl_at

if TYPE_CHECKING:
    # The monitor (and the decide stages, alerts and recording under it) is imported only when a
    # monitor is built: the intake, which only tracks jobs, starts without it.
    from job_alerts.monitor import Monitor, RunSummary

# EventBridge events users (or their pipelines) send to hand a job to the monitor.
TRACK_SOURCE = "job-alerts"
TRACK_DETAIL_TYPE = "Track Bright Data job"


def build_monitor(
    cfg: Settings,
    *,
    remaining_ms: Callable[[], int] | None = None,
    with_publisher: bool = True,
    clock: Callable[[], datetime] | None = None,
    publisher: Any = None,
) -> Monitor:
    """A monitor wired to the real collaborators of `cfg`; tests, the demo and the benchmark
    pass a clock (simulated time) or a publisher of their own."""
    from job_alerts.monitor import Monitor

    store = factory.state_store(cfg)  # first: the table is the first thing a run needs
    if publisher is None and with_publisher:
        publisher = factory.publisher(cfg)
    overrides = factory.load_overrides(cfg)
    return Monitor(
        cfg,
        factory.bright_data_client(cfg),
        store,
        publisher,
        factory.thresholds_resolver(cfg, overrides),
        clock=clock or factory.clock(),
        remaining_ms=remaining_ms,
        overrides=overrides,
    )


def run_once(
    cfg: Settings, *, remaining_ms: Callable[[], int] | None = None, dry_run: bool = False
) -> RunSummary:
    monitor = build_monitor(cfg, remaining_ms=remaining_ms, with_publisher=not dry_run)
    logger.append_keys(run_id=monitor.run_id)
    try:
        summary = monitor.run(dry_run=dry_run)
    except Exception as exc:
        if not dry_run:
            _leave_run_record(cfg, None, f"the run failed: {type(exc).__name__}")
        raise
    if not dry_run:
        _leave_run_record(cfg, summary, None)
    emit_metrics(summary, cfg)
    logger.info("run finished", extra={"summary": summary.to_dict()})
    return summary


def _leave_run_record(cfg: Settings, summary: RunSummary | None, error: str | None) -> None:
    """What `job-alerts status` shows as the last run. Bookkeeping: failing to write it never
    turns a run that did its work into a failed one, nor hides why a failed run failed."""
    from job_alerts import status

    try:
        status.record_run(factory.state_store(cfg), factory.clock()(), summary, error)
    except Exception as exc:
        log = logger.debug if summary is None else logger.warning
        log("could not record the run for `job-alerts status`", extra={"error": repr(exc)})


def emit_metrics(summary: RunSummary, cfg: Settings) -> None:
    """The run's totals, added to the shared metrics (flushed by the handler) under `cfg`'s
    dimensions."""
    bind_metric_dimensions(cfg)
    count = MetricUnit.Count
    if not summary.dry_run:
        metrics.add_metric(name="RunsCompleted", unit=count, value=1)
    metrics.add_metric(name="RunDuration", unit=MetricUnit.Milliseconds, value=summary.duration_ms)
    metrics.add_metric(name="JobsRead", unit=count, value=summary.jobs_read)
    metrics.add_metric(name="JobsSettled", unit=count, value=summary.jobs_settled)
    metrics.add_metric(name="JobsDeferred", unit=count, value=summary.jobs_deferred)
    metrics.add_metric(name="AlertsSent", unit=count, value=summary.alerts_sent)
    metrics.add_metric(name="AlertsSuppressed", unit=count, value=summary.alerts_suppressed)
    metrics.add_metric(name="AlertsFailed", unit=count, value=summary.alerts_failed)
    metrics.add_metric(name="DecisionsOwed", unit=count, value=summary.decisions_owed)
    metrics.add_metric(name="ApiErrors", unit=count, value=sum(summary.read_errors.values()))
    metrics.add_metric(
        name="UnjudgeableAnswers", unit=count, value=sum(summary.unjudgeable.values())
    )
    for rule, n in summary.findings.items():
        metrics.add_metric(name=f"Findings_{rule}", unit=count, value=n)


def emit_dimensioned_metrics(summary: RunSummary, cfg: Settings) -> None:
    """Per-collector, per-error-kind and per-reason series. Each needs its own dimension set, so
    each is its own EMF record; only the Lambda path emits them (the CLI keeps stdout for its
    output)."""
    dimensions = metric_dimensions(cfg)
    for collector, stats in sorted(summary.collectors.items()):
        for name, key in (("CollectorJobsRead", "jobs_read"), ("CollectorFindings", "findings")):
            _count_series(name, stats[key], {**dimensions, "collector": collector})
    for reason, n in sorted(summary.unjudgeable.items()):
        _count_series("UnjudgeableAnswersByReason", n, {**dimensions, "reason": reason})
    for kind, n in sorted(summary.read_errors.items()):
        _count_series("ApiErrorsByKind", n, {**dimensions, "kind": kind})


def _count_series(name: str, value: int, dimensions: dict[str, str]) -> None:
    """One count metric under `dimensions`, as its own EMF record."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions=dimensions,
    ):
        pass


def track_jobs(
    store: StateStore, job_ids: Iterable[str], *, source: str, cfg: Settings, now: datetime
) -> dict[str, str]:
    """Hand jobs to the monitor; each is read on the next run. Returns id -> tracked|known."""
    # Validate every id before writing any, so a bad id in a batch records nothing.
    valid = [validate_job_id(raw) for raw in job_ids]
    results: dict[str, str] = {}
    for job_id in dict.fromkeys(valid):
        record = JobRecord(
            job_id=job_id,
            collector_id=None,
            first_seen=now,
            source=source,
            ttl=ttl_at(now, cfg.job_ttl_days),
        )
        results[job_id] = "tracked" if store.add_job(record) else "known"
    return results


def job_ids_from_track_event(event: Mapping[str, Any]) -> list[str]:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidId("track event has no detail object")
    ids: Any = detail.get("job_ids") or detail.get("job_id")
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not ids:
        raise InvalidId("track event needs detail.job_id (a string) or detail.job_ids (a list)")
    return [validate_job_id(i) for i in ids]


def handle_monitor_event(
    event: Mapping[str, Any], *, remaining_ms: Callable[[], int] | None = None
) -> dict[str, Any]:
    """A scheduled event runs the monitor; a track event records the jobs it names."""
    cfg = factory.settings()
    if event.get("source") == TRACK_SOURCE and event.get("detail-type") == TRACK_DETAIL_TYPE:
        ids = job_ids_from_track_event(event)
        results = track_jobs(
            factory.state_store(cfg), ids, source="event", cfg=cfg, now=factory.clock()()
        )
        logger.info("jobs tracked", extra={"results": results})
        return {"tracked": results}
    summary = run_once(cfg, remaining_ms=remaining_ms)
    emit_dimensioned_metrics(summary, cfg)
    return summary.to_dict()
