"""What is red right now, read from the state table: the monitor's last run and health, open
alarms per collector, silences, live jobs and their problems (stuck after an alert, unreadable),
and alerts not yet published. Also where a run leaves its record (one item per table, overwritten
by each run).

The queries go through StateStore's public methods; the run record is the one item kept here,
because the store has no place for it yet (state.py is being split; it moves there after)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from job_alerts.decide import JOB_UNREADABLE, UNREADABLE_AFTER
from job_alerts.history import EMPTY_HISTORY
from job_alerts.joblog import JobLog, JobLogError, JobStatus
from job_alerts.models import AlarmState, HealthState
from job_alerts.rules import Rule, Verdict, spec_for
from job_alerts.text import count
from job_alerts.timeutil import iso, parse_iso

if TYPE_CHECKING:
    from job_alerts.models import JobRecord, RuleAlarm
    from job_alerts.monitor import RunSummary
    from job_alerts.state import StateStore

# The run record's key: beside the monitor's health item, under the same partition.
_RUN_KEY = {"pk": {"S": "MONITOR"}, "sk": {"S": "LAST_RUN"}}
# Every outbox entry, whoever holds its lease (pending_outbox filters on the lease's end).
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)
# How far back the history is searched for the alert that opened an alarm.
_HISTORY_SEARCH = 200

OUTCOME_OK = "ok"
OUTCOME_ALERTS_FAILED = "alerts_failed"
OUTCOME_ERROR = "error"


@dataclass(frozen=True)
class LastRun:
    finished_at: datetime
    outcome: str  # ok | alerts_failed | error
    duration_ms: int | None = None
    health: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "finished_at": iso(self.finished_at),
            "outcome": self.outcome,
            "duration_ms": self.duration_ms,
            "health": self.health,
            "detail": self.detail,
        }


def record_run(
    store: StateStore, finished_at: datetime, summary: RunSummary | None, error: str | None
) -> None:
    """Leave the run's record: when it ended, how, how long it took. `error` is a one-line
    reason for a run that raised (never the exception's text, which could hold anything)."""
    item: dict[str, Any] = {**_RUN_KEY, "finished_at": {"S": iso(finished_at)}}
    if summary is None:
        item["outcome"] = {"S": OUTCOME_ERROR}
        item["detail"] = {"S": (error or "the run failed")[:300]}
    else:
        failed = summary.alerts_failed > 0
        item["outcome"] = {"S": OUTCOME_ALERTS_FAILED if failed else OUTCOME_OK}
        item["duration_ms"] = {"N": str(summary.duration_ms)}
        item["health"] = {"S": summary.health}
    store.client.put_item(TableName=store.table, Item=item)


def last_run(store: StateStore) -> LastRun | None:
    response = store.client.get_item(TableName=store.table, Key=_RUN_KEY, ConsistentRead=True)
    raw = response.get("Item")
    if not raw:
        return None
    finished = parse_iso(raw.get("finished_at", {}).get("S"))
    if finished is None:
        return None
    duration = raw.get("duration_ms", {}).get("N")
    return LastRun(
        finished_at=finished,
        outcome=raw.get("outcome", {}).get("S", OUTCOME_OK),
        duration_ms=int(duration) if duration is not None else None,
        health=raw.get("health", {}).get("S"),
        detail=raw.get("detail", {}).get("S"),
    )


@dataclass(frozen=True)
class OpenAlarm:
    collector_id: str
    collector_name: str | None
    rule: str
    state: str  # ALARM, or UNKNOWN while an alarm is open and the latest job was unjudgeable
    since: datetime | None
    latest_job: str | None
    severity: str | None = None
    observed: float | int | str | None = None
    limit: float | int | str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "collector": {"id": self.collector_id, "name": self.collector_name},
            "rule": self.rule,
            "state": self.state,
            "severity": self.severity,
            "since": iso(self.since) if self.since else None,
            "observed": self.observed,
            "limit": self.limit,
            "message": self.message,
            "latest_job": self.latest_job,
        }


@dataclass(frozen=True)
class JobProblem:
    """A live job that is red without being an alarm: still stuck after its stuck alert, or
    whose answers cannot be judged (red from the read that alerts it, UNREADABLE_AFTER)."""

    job_id: str
    collector_id: str | None
    problem: str  # stuck_queued | stuck_running | job_unreadable
    red: bool
    detail: str
    since: datetime | None = None
    for_minutes: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "collector_id": self.collector_id,
            "problem": self.problem,
            "red": self.red,
            "since": iso(self.since) if self.since else None,
            "for_minutes": self.for_minutes,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class UnsentAlert:
    alert_id: str
    created_at: datetime | None
    subject: str | None

    def to_dict(self) -> dict[str, Any]:
        created = iso(self.created_at) if self.created_at else None
        return {"alert_id": self.alert_id, "created_at": created, "subject": self.subject}


@dataclass(frozen=True)
class MonitorHealth:
    state: str
    since: datetime | None
    detail: str | None
    last_run: LastRun | None

    @property
    def degraded(self) -> bool:
        return self.state != HealthState.HEALTHY.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "health": self.state,
            "degraded_since": iso(self.since) if self.since and self.degraded else None,
            "detail": self.detail if self.degraded else None,
            "last_run": self.last_run.to_dict() if self.last_run else None,
        }


@dataclass(frozen=True)
class SilenceView:
    collector_id: str
    until: datetime
    reason: str
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "collector_id": self.collector_id,
            "until": iso(self.until),
            "reason": self.reason,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class StateStatus:
    """Everything the state table says about what is red."""

    checked_at: datetime
    monitor: MonitorHealth
    open_alarms: tuple[OpenAlarm, ...]
    silences: tuple[SilenceView, ...]
    live_jobs: int
    live_jobs_by_source: Mapping[str, int] = field(default_factory=dict)
    unsent: tuple[UnsentAlert, ...] = ()
    # Every problem of the live set, red first, then oldest first; the CLI caps what it shows.
    job_problems: tuple[JobProblem, ...] = ()
    # id -> name of the collectors the monitor stored from its listings and last found in the
    # account (not missing); None while it has stored none (no run has listed collectors yet).
    listed_collectors: Mapping[str, str] | None = None

    @property
    def red_job_problems(self) -> int:
        return sum(problem.red for problem in self.job_problems)


def _is_open(alarm: RuleAlarm) -> bool:
    return alarm.state is AlarmState.ALARM or (
        alarm.state is AlarmState.UNKNOWN and alarm.alarm_since is not None
    )


def _latest_job(alarm: RuleAlarm) -> str | None:
    if alarm.outcomes:
        return str(alarm.outcomes[-1][0])
    return alarm.alarm_jobs[-1] if alarm.alarm_jobs else None


def _opening_entries(store: StateStore, collectors: Iterable[str]) -> dict[tuple[str, str], Any]:
    """(collector, rule) -> the newest ALARM or REMINDER entry of the history: what was observed
    against which limit when the alarm was raised (or last reminded)."""
    wanted = set(collectors)
    found: dict[tuple[str, str], Any] = {}
    if not wanted:
        return found
    for record in store.history(limit=_HISTORY_SEARCH):
        if record.collector_id not in wanted:
            continue
        for entry in record.document.get("entries", []):
            if entry.get("kind") in ("ALARM", "REMINDER"):
                found.setdefault((record.collector_id, entry.get("rule")), entry)
    return found


_STUCK_RULES = (Rule.STUCK_QUEUED, Rule.STUCK_RUNNING)


def _stuck(record: JobRecord, job: JobLog, rule: Rule, now: datetime) -> JobProblem | None:
    """The job, alerted for `rule`, if its last read still shows it queued (or running).
    The rule's own judge with no allowance says so: BREACH while the job is in that state at
    all. The limit already spoke when the job was alerted, and a job below it was not alerted
    (so is not red); status reads no thresholds, which with --stack it may not even know."""
    judge = spec_for(rule).judge
    assert judge is not None  # both stuck rules are job rules
    result = judge(job, 0, now, EMPTY_HISTORY)
    if result.verdict is not Verdict.BREACH or result.finding is None:
        return None
    since = job.created if rule is Rule.STUCK_QUEUED else job.started
    doing = "queued"
    if rule is Rule.STUCK_RUNNING:
        doing = "paused" if job.status is JobStatus.PAUSED else "running"
    return JobProblem(
        job_id=record.job_id,
        collector_id=record.collector_id or job.collector_id,
        problem=rule.value,
        red=True,
        # The record is rewritten whenever a read shows another status, so it is the latest.
        detail=f"still {doing} at the latest read; alerted {rule.value}",
        since=since,
        for_minutes=float(result.finding.observed or 0),
    )


def _unreadable(record: JobRecord) -> JobProblem:
    reads = record.unreadable_reads
    red = reads >= UNREADABLE_AFTER
    return JobProblem(
        job_id=record.job_id,
        collector_id=record.collector_id,
        problem=JOB_UNREADABLE,
        red=red,
        detail=(
            f"{record.unreadable_reason or 'unknown'}: {count(reads, 'read')} in a row could not "
            "be judged" + ("" if red else f"; red after {UNREADABLE_AFTER}")
        ),
    )


def job_problems(live: Iterable[JobRecord], now: datetime) -> list[JobProblem]:
    """What the live jobs' records say is wrong with them now, from what each record holds (its
    last read, the rules it was alerted for, its unreadable reads): no call to Bright Data.
    Red first, then oldest first."""
    problems: list[JobProblem] = []
    for record in live:
        if record.unreadable_reads > 0:
            problems.append(_unreadable(record))
        alerted = [rule for rule in _STUCK_RULES if rule.value in record.alerted]
        if not alerted or record.log is None:
            continue
        try:
            job = JobLog.from_dict(record.log)
        except JobLogError:
            continue  # a stored log that no longer rebuilds says nothing about now
        for rule in alerted:
            stuck = _stuck(record, job, rule, now)
            if stuck is not None:
                problems.append(stuck)
    return sorted(
        problems, key=lambda p: (not p.red, p.since is None, p.since or now, p.job_id, p.problem)
    )


def read_status(store: StateStore, now: datetime, watched: Iterable[str] = ()) -> StateStatus:
    """The state table's picture. Silences are looked up for every collector the monitor has
    seen, has an alarm for or is configured to watch (`watched`); the collectors its listings
    found (listed_collectors) come from the same listing items, with no call of their own."""
    health = store.get_health()
    metas = store.collector_meta()
    names = {cid: meta.name for cid, meta in metas.items()}
    alarmed = sorted(store.collectors_with_open_alarms())
    alarms = [
        alarm
        for cid in alarmed
        for alarm in sorted(store.get_alarms(cid).values(), key=lambda a: a.rule)
        if _is_open(alarm)
    ]
    entries = _opening_entries(store, {alarm.collector_id for alarm in alarms})
    open_alarms = []
    for alarm in alarms:
        entry = entries.get((alarm.collector_id, alarm.rule), {})
        open_alarms.append(
            OpenAlarm(
                collector_id=alarm.collector_id,
                collector_name=names.get(alarm.collector_id),
                rule=alarm.rule,
                state=alarm.state.value,
                since=alarm.alarm_since,
                latest_job=_latest_job(alarm),
                severity=entry.get("severity"),
                observed=entry.get("observed"),
                limit=entry.get("limit"),
                message=entry.get("message"),
            )
        )
    silences = []
    for cid in sorted({*names, *alarmed, *watched}):
        silence = store.active_silence(cid, now)
        if silence is not None:
            silences.append(SilenceView(cid, silence.until, silence.reason, silence.created_by))
    listed = {cid: meta.name for cid, meta in metas.items() if meta.missing_since is None}
    live = store.live_jobs()
    unsent = []
    for entry in store.pending_outbox(_END_OF_TIME, owner=""):
        record = store.get_alert(entry.alert_id)
        unsent.append(
            UnsentAlert(
                entry.alert_id,
                record.created_at if record else None,
                record.subject if record else None,
            )
        )
    return StateStatus(
        checked_at=now,
        monitor=MonitorHealth(health.state.value, health.since, health.detail, last_run(store)),
        open_alarms=tuple(open_alarms),
        silences=tuple(silences),
        live_jobs=len(live),
        live_jobs_by_source=dict(Counter(job.source for job in live)),
        unsent=tuple(unsent),
        job_problems=tuple(job_problems(live, now)),
        listed_collectors=listed if metas else None,
    )
