"""The monitor's domain types, apart from storage: jobs, collector alarms, monitor health,
silences, alert records and the claims that make a decision once-only. No boto3 here; the
DynamoDB item and key formats live in `state` only."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from job_alerts.timeutil import iso


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    UNKNOWN = "UNKNOWN"


class HealthState(StrEnum):
    HEALTHY = "HEALTHY"
    TOKEN_REJECTED = "TOKEN_REJECTED"  # noqa: S105 - a state name, not a secret
    API_UNREACHABLE = "API_UNREACHABLE"
    # One endpoint answers 403 for this account while the token works: jobs are still judged.
    ENDPOINT_REFUSED = "ENDPOINT_REFUSED"
    # Without `Collectors`, collectors_list kept failing (not a 403): the collectors already known
    # are still listed and judged; one the monitor has not seen yet goes unseen.
    ACCOUNT_UNLISTED = "ACCOUNT_UNLISTED"

    @property
    def judges_jobs(self) -> bool:
        """Whether a run in this state gives verdicts (not from partial or unusable data)."""
        return self in (
            HealthState.HEALTHY,
            HealthState.ENDPOINT_REFUSED,
            HealthState.ACCOUNT_UNLISTED,
        )


class AlertStatus(StrEnum):
    PENDING = "PENDING"  # claimed, in the outbox, not yet confirmed published
    SENT = "SENT"
    SUPPRESSED = "SUPPRESSED"  # silenced: recorded, never sent


@dataclass
class JobRecord:
    job_id: str
    collector_id: str | None
    first_seen: datetime
    source: str = "discovered"  # discovered | track | webhook | event
    status: str | None = None
    settled: bool = False
    fingerprint: str | None = None
    log: dict[str, Any] | None = None  # JobLog.to_dict() of the last read
    last_read: datetime | None = None
    expired: bool = False
    ttl: int | None = None
    # Rules already alerted for this job: a cache that saves re-claiming; the claim items in
    # the store stay the authority.
    alerted: list[str] = field(default_factory=list)
    # Consecutive reads whose answer could not be judged, and why the last one could not.
    unreadable_reads: int = 0
    unreadable_reason: str | None = None
    # The job whose failed inputs this job reruns (a rerun is never rerun itself).
    rerun_of: str | None = None
    # Reads answering 404 since the last good read, and when the first of them was: a 404 for a
    # job Bright Data still keeps is a glitch, so one alone does not expire the job.
    not_found_reads: int = 0
    first_not_found: datetime | None = None

    @property
    def live_sort_key(self) -> str:
        """Where the job stands in the fair reading order (oldest first); opaque to callers,
        who only compare it with a saved cursor."""
        return f"{iso(self.first_seen)}#{self.job_id}"


@dataclass
class RuleAlarm:
    """Alarm state of one collector and rule, with the outcomes of its last jobs (for M-of-N)."""

    collector_id: str
    rule: str
    state: AlarmState = AlarmState.OK
    version: int = 0
    # [job_id, verdict, created] of the most recently created jobs, oldest first; a job appears
    # once, with its latest verdict.
    outcomes: list[list[str]] = field(default_factory=list)
    alarm_since: datetime | None = None  # set while an alarm is open (ALARM, or UNKNOWN after it)
    last_notified: datetime | None = None
    alarm_jobs: list[str] = field(default_factory=list)
    exists: bool = False
    # The silence its opening was told under (kept as SUPPRESSED): while the alarm stays open,
    # it is announced once that silence has ended.
    hidden_by: Silence | None = None

    def copy(self) -> RuleAlarm:
        return replace(
            self,
            outcomes=[list(entry) for entry in self.outcomes],
            alarm_jobs=list(self.alarm_jobs),
        )


@dataclass
class Health:
    state: HealthState = HealthState.HEALTHY
    since: datetime | None = None
    version: int = 0
    live_cursor: str | None = None  # sort key of the last live job read: the next run starts after
    detail: str | None = None
    # When the earliest silence that hid an alarm's opening ends (or was removed): from then on,
    # a run looks for open alarms still unannounced. None: no alarm is hidden.
    hidden_due: datetime | None = None
    # Runs in a row whose collectors_list failed while `Collectors` is empty (0 once it answers):
    # ACCOUNT_UNLISTED from UNLISTED_AFTER_RUNS on.
    account_unlisted_runs: int = 0


@dataclass(frozen=True)
class Silence:
    collector_id: str
    until: datetime
    reason: str
    created_by: str | None = None


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    status: AlertStatus
    created_at: datetime
    collector_id: str | None
    severity: str
    subject: str
    document: dict[str, Any]
    sent_at: datetime | None = None
    message_id: str | None = None
    suppressed_reason: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """An alert owed to the topic: who holds it, and until when."""

    entry_id: str  # opaque to callers; the store knows what it means
    alert_id: str
    owner: str | None
    lease_until: int  # epoch seconds


@dataclass(frozen=True)
class CollectorMeta:
    """What the last listing saw of a collector, so an unchanged one need not be listed."""

    collector_id: str
    name: str
    last_run: str = ""
    listed_at: datetime | None = None
    full_at: datetime | None = None
    # When its recent launches started, and its last job was created, oldest first (bounded):
    # its cadence, for the dead-collector rule (see History).
    created: tuple[datetime, ...] = ()
    # Runs in a row whose listing of its jobs failed (0 once a listing works): the
    # collector_unlisted rule. Left alone by a run that did not try (nothing due, no time left).
    failed_listings: int = 0
    # Since when collectors_list has not shown it while it is watched (and its own listing
    # found nothing): the collector_not_found rule. None while it is shown.
    missing_since: datetime | None = None


# ---- claims: the decisions a transaction records once, with the alert that tells of them ----


@dataclass(frozen=True)
class JobRuleClaim:
    """This job has been alerted for this rule (job events, and every_job mode)."""

    job_id: str
    rule: str
    at: datetime
    ttl_days: int


@dataclass(frozen=True)
class AlarmClaim:
    """The alarm moves to this state, provided nobody moved it since `expected_version`."""

    alarm: RuleAlarm
    expected_version: int


@dataclass(frozen=True)
class HealthClaim:
    """Monitor health moves to this state, provided nobody moved it since `expected_version`."""

    health: Health
    expected_version: int


Claim = JobRuleClaim | AlarmClaim | HealthClaim


class StateError(RuntimeError):
    """A state-store call failed in a way the run cannot work around."""


class ConflictError(StateError):
    """A conditional write lost against a concurrent writer; `failed` names the claims."""

    def __init__(self, message: str, failed: tuple[Claim, ...] = ()) -> None:
        super().__init__(message)
        self.failed = failed

    @property
    def claimed_job_rules(self) -> list[tuple[str, str]]:
        """(job id, rule) of the job claims another run made first."""
        return [(c.job_id, c.rule) for c in self.failed if isinstance(c, JobRuleClaim)]


class ContendedError(StateError):
    """A transaction DynamoDB cancelled for a reason other than a failed condition of ours (a
    conflicting transaction, throttling, a validation error), still after retrying: nothing was
    written and nothing was claimed, so the decision is still owed."""


__all__ = [
    "AlarmClaim",
    "AlarmState",
    "AlertRecord",
    "AlertStatus",
    "Claim",
    "CollectorMeta",
    "ConflictError",
    "ContendedError",
    "Health",
    "HealthClaim",
    "HealthState",
    "JobRecord",
    "JobRuleClaim",
    "OutboxEntry",
    "RuleAlarm",
    "Silence",
    "StateError",
]
