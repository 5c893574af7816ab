"""The Alert model: what the monitor decided to tell, about which collector and jobs. Plain frozen
data; the JSON document and the renderings live in their own modules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote

from job_alerts.config import Deployment
from job_alerts.joblog import JobLog
from job_alerts.rules import Severity

__all__ = [
    "CONTROL_PANEL_JOB_URL",
    "GOOD_NEWS_KINDS",
    "Alert",
    "AlertEntry",
    "AlertKind",
    "ErrorSummary",
    "JobFacts",
    "job_link",
]

CONTROL_PANEL_JOB_URL = "https://brightdata.com/cp/scrapers/jobs/{job_id}"


class AlertKind(StrEnum):
    ALARM = "ALARM"
    RESOLVED = "RESOLVED"
    REMINDER = "REMINDER"
    JOB = "JOB"
    DEGRADED = "DEGRADED"
    RECOVERED = "RECOVERED"
    TEST = "TEST"


# Kinds that announce that something got better: their subject says so instead of a severity.
GOOD_NEWS_KINDS = frozenset({AlertKind.RESOLVED, AlertKind.RECOVERED})


def job_link(job_id: str) -> str:
    """The job's page in the Bright Data control panel."""
    return CONTROL_PANEL_JOB_URL.format(job_id=quote(job_id, safe=""))


@dataclass(frozen=True)
class ErrorSummary:
    """Why a job failed: the most frequent error kinds and a few failing inputs."""

    kinds: tuple[tuple[str, int], ...] = ()  # (error kind, count), most frequent first, top 5
    samples: tuple[tuple[str, str], ...] = ()  # (url, error), up to 3


@dataclass(frozen=True)
class JobFacts:
    """What an alert tells about one job; a JSON-friendly subset of JobLog plus its errors."""

    job_id: str
    collector_id: str | None
    status: str
    settled: bool
    inputs: int | None = None
    success: int | None = None
    fails: int | None = None
    lines: int | None = None
    success_rate: float | None = None
    job_time_s: float | None = None
    queue_time_s: float | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    errors: ErrorSummary | None = None

    @staticmethod
    def from_joblog(job: JobLog, errors: ErrorSummary | None = None) -> JobFacts:
        return JobFacts(
            job_id=job.job_id,
            collector_id=job.collector_id,
            status=job.status.value,
            settled=job.settled,
            inputs=job.inputs,
            success=job.success,
            fails=job.fails,
            lines=job.lines,
            success_rate=job.success_rate,
            job_time_s=job.job_time.total_seconds() if job.job_time is not None else None,
            queue_time_s=job.queue_time.total_seconds() if job.queue_time is not None else None,
            created=job.created,
            started=job.started,
            finished=job.finished,
            errors=errors,
        )


@dataclass(frozen=True)
class AlertEntry:
    """One rule transition or event inside a (possibly grouped) alert."""

    kind: AlertKind
    rule: str
    severity: Severity
    message: str
    observed: float | int | str | None = None
    limit: float | int | str | None = None
    job_ids: tuple[str, ...] = ()
    since: datetime | None = None  # when the alarm started
    duration_s: float | None = None  # how long the alarm lasted (RESOLVED / RECOVERED)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    collector_id: str | None
    collector_name: str | None
    entries: tuple[AlertEntry, ...]
    jobs: tuple[JobFacts, ...]
    affected_jobs: int
    created_at: datetime
    test: bool = False
    # Which deployment sent it; None from a local run, and in documents written before it was.
    deployment: Deployment | None = None

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError("an alert needs at least one entry")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")

    @property
    def severity(self) -> Severity:
        return self.ordered_entries[0].severity

    @property
    def ordered_entries(self) -> tuple[AlertEntry, ...]:
        """Highest severity first; the monitor's order otherwise (sorted() is stable)."""
        return tuple(sorted(self.entries, key=lambda entry: -entry.severity.rank))

    @property
    def top_entry(self) -> AlertEntry:
        return self.ordered_entries[0]

    @property
    def collector_label(self) -> str:
        return self.collector_name or self.collector_id or "monitor"
