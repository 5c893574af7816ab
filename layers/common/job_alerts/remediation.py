"""Opt-in remediation, decided purely: which alerted jobs get their failed inputs rerun (once per
job, never a rerun of a rerun), and what to tell when a rerun starts, cannot start, or settles.
The claims (a conditional write per job, a per-collector daily count) and the API call happen in
the record stage; nothing here reads a clock or calls anything."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from job_alerts.alerts import AlertEntry, AlertKind
from job_alerts.config import Settings
from job_alerts.joblog import JobLog
from job_alerts.models import JobRecord, JobRuleClaim
from job_alerts.rules import Severity
from job_alerts.text import count
from job_alerts.thresholds import Thresholds

# Job-rule claim names (stored with the job's other claims): the rerun of a job's failed inputs
# was claimed; its start (or why it could not start) was told; the rerun job's outcome was told.
RERUN = "rerun"
RERUN_STARTED = "rerun_started"
RERUN_RESULT = "rerun_result"


@dataclass(frozen=True)
class RerunRequest:
    """Rerun the failed inputs of `job_id` (its collector's daily count allowing)."""

    job_id: str
    collector_id: str
    failed_inputs: int
    max_per_day: int


def opted_in(collector_id: str, thresholds: Thresholds, settings: Settings) -> bool:
    """A collector reruns failed inputs when RerunCollectors names it or its overrides say
    `"rerun_failed_inputs": true`."""
    return collector_id in settings.rerun_collectors or thresholds.rerun_failed_inputs


def plan_reruns(
    alerted: Sequence[tuple[JobRecord, JobLog]],
    thresholds_for: Callable[[str | None], Thresholds],
    settings: Settings,
    *,
    claimed: Mapping[str, set[str]] | None = None,
    dry_run: bool = False,
) -> list[RerunRequest]:
    """The reruns owed for jobs that an alert of this run is about: settled, with failed
    inputs, in an opted-in collector, not themselves a rerun, not rerun before (by an earlier
    run, or earlier in this one). A dry run reruns nothing."""
    if dry_run:
        return []
    claimed = claimed or {}
    wanted: list[RerunRequest] = []
    for record, job in alerted:
        collector = job.collector_id or record.collector_id
        if collector is None or record.rerun_of is not None:
            continue
        if not job.settled or not job.fails:
            continue
        if RERUN in record.alerted or RERUN in claimed.get(job.job_id, set()):
            continue
        thresholds = thresholds_for(collector)
        if not opted_in(collector, thresholds, settings) or thresholds.max_reruns_per_day < 1:
            continue
        wanted.append(RerunRequest(job.job_id, collector, job.fails, thresholds.max_reruns_per_day))
    return wanted


def rerun_started(
    request: RerunRequest, new_job_id: str, now: datetime, settings: Settings
) -> tuple[AlertEntry, JobRuleClaim]:
    """The follow-up that names the new job."""
    entry = AlertEntry(
        kind=AlertKind.JOB,
        rule=RERUN,
        severity=Severity.INFO,
        message=(
            f"rerun {new_job_id} started for the {count(request.failed_inputs, 'failed input')} of "
            f"{request.job_id}; its outcome is reported when it settles"
        ),
        job_ids=(request.job_id, new_job_id),
    )
    return entry, JobRuleClaim(request.job_id, RERUN_STARTED, now, settings.history_ttl_days)


def rerun_refused(
    request: RerunRequest, reason: str, now: datetime, settings: Settings
) -> tuple[AlertEntry, JobRuleClaim]:
    """The follow-up when the claimed rerun could not start (it is not tried again: a rerun
    spends credits, and an unclear answer may mean it did start)."""
    entry = AlertEntry(
        kind=AlertKind.JOB,
        rule=RERUN,
        severity=Severity.WARNING,
        message=f"rerun of the failed inputs of {request.job_id} not started: {reason}"[:400],
        job_ids=(request.job_id,),
    )
    return entry, JobRuleClaim(request.job_id, RERUN_STARTED, now, settings.history_ttl_days)


def rerun_settled(
    record: JobRecord, job: JobLog, already: set[str], now: datetime, settings: Settings
) -> tuple[AlertEntry, JobRuleClaim] | None:
    """What a rerun job recovered, once, when it settles; None for any other job."""
    if record.rerun_of is None or not job.settled or RERUN_RESULT in already:
        return None
    if job.inputs is not None and job.success is not None:
        recovered = f"recovered {count(job.success)} of {count(job.inputs, 'input')}"
    else:
        recovered = f"ended {job.status.value} (its counts were not reported)"
    entry = AlertEntry(
        kind=AlertKind.JOB,
        rule=RERUN,
        severity=Severity.INFO,
        message=f"rerun {job.job_id} of {record.rerun_of} {recovered}",
        job_ids=(job.job_id, record.rerun_of),
    )
    return entry, JobRuleClaim(job.job_id, RERUN_RESULT, now, settings.history_ttl_days)


__all__ = [
    "RERUN",
    "RERUN_RESULT",
    "RERUN_STARTED",
    "RerunRequest",
    "opted_in",
    "plan_reruns",
    "rerun_refused",
    "rerun_settled",
    "rerun_started",
]
