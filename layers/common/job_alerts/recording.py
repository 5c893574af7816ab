"""Record stage: decisions become stored alerts. Each alert is written in one transaction with
the claims that make its decisions once-only (and its outbox entry), split so every transaction
fits DynamoDB's limit; silenced collectors' alerts are kept as SUPPRESSED; a few alerting jobs'
error details are fetched so the alert can say why. Opted-in reruns of failed inputs are
claimed, started and told of here too (what to rerun is decided in `remediation`)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from job_alerts.alerts import (
    Alert,
    AlertEntry,
    AlertKind,
    ErrorSummary,
    JobFacts,
    render_subject,
    to_document,
)
from job_alerts.brightdata import BrightDataClient, BrightDataError
from job_alerts.config import Deployment, Settings
from job_alerts.decide import ALERT_JOBS_SHOWN, Decision
from job_alerts.discovery import describe
from job_alerts.ids import InvalidId
from job_alerts.models import (
    AlarmClaim,
    AlertRecord,
    AlertStatus,
    Claim,
    ConflictError,
    JobRecord,
    JobRuleClaim,
    Silence,
)
from job_alerts.observability import logger
from job_alerts.remediation import RERUN, RerunRequest, rerun_refused, rerun_started
from job_alerts.state import TRANSACTION_MAX_ITEMS, StateStore
from job_alerts.state.store import RerunClaim
from job_alerts.timeutil import ttl_at

# Error details are fetched for a few alerting jobs only: enough to say why, cheap to get.
ERROR_DETAIL_JOBS = 3
# Leave room for the alert's own item and outbox entry in one transaction.
MAX_CLAIMS_PER_ALERT = TRANSACTION_MAX_ITEMS - 10
CLAIM_RETRIES = 3
# How much later than its alert a rerun follow-up is recorded (the outbox sends in that order).
FOLLOW_UP_DELAY = timedelta(milliseconds=1)


@dataclass
class Recorded:
    """What the record stage did: alerts stored (or planned, in a dry run), suppressed, and the
    job rules now claimed (by this run, or by a concurrent one that won the claim)."""

    planned: list[dict[str, Any]] = field(default_factory=list)
    suppressed: int = 0
    claimed: dict[str, set[str]] = field(default_factory=dict)
    # Jobs named by a job event or an alarm this run stored to be sent (not silenced).
    alerted_jobs: set[str] = field(default_factory=set)
    # Reruns of failed inputs: started, refused (by the API), capped (the day's count reached).
    reruns: Counter[str] = field(default_factory=Counter)
    # Whose decisions could not be recorded this run (a collector id, or "monitor" for its
    # health): they stay owed, their jobs live, for the next run.
    owed: set[str] = field(default_factory=set)
    # When each silence that still hides an alarm's opening ends (the next look for them).
    hidden_until: set[datetime] = field(default_factory=set)

    def note(self, job_rules: Sequence[tuple[str, str]]) -> None:
        for job_id, rule in job_rules:
            self.claimed.setdefault(job_id, set()).add(rule)


def claim_label(claim: Claim) -> str:
    """A stable name for a claim, for alert ids."""
    if isinstance(claim, JobRuleClaim):
        return f"job|{claim.job_id}|{claim.rule}"
    if isinstance(claim, AlarmClaim):
        return f"alarm|{claim.alarm.collector_id}|{claim.alarm.rule}"
    return "health"


def build_alerts(
    decision: Decision,
    errors: dict[str, ErrorSummary],
    now: datetime,
    *,
    deployment: Deployment | None = None,
) -> list[tuple[Alert, list[Claim]]]:
    """The decision as alerts of the deployment, each with the claims it records; pure. Every
    entry was planned together with its claim, so the two lists split the same way into
    transaction-sized alerts."""
    if len(decision.claims) != len(decision.entries):
        raise RuntimeError("every alert entry must be planned with exactly one claim")
    alerts = []
    for start in range(0, len(decision.entries), MAX_CLAIMS_PER_ALERT):
        entries = decision.entries[start : start + MAX_CLAIMS_PER_ALERT]
        claims = decision.claims[start : start + MAX_CLAIMS_PER_ALERT]
        chunk_jobs = {j for e in entries for j in e.job_ids}
        jobs = [
            JobFacts.from_joblog(job, errors.get(job_id))
            for job_id, job in decision.jobs.items()
            if job_id in chunk_jobs
        ][:ALERT_JOBS_SHOWN]
        labels = sorted(claim_label(c) for c in claims)
        digest = hashlib.sha256("\n".join(labels).encode()).hexdigest()[:12]
        part = start // MAX_CLAIMS_PER_ALERT
        stamp = now.strftime("%Y%m%dT%H%M%S")
        alert = Alert(
            alert_id=f"{stamp}-{decision.collector_id or 'monitor'}-{digest}-{part}",
            collector_id=decision.collector_id,
            collector_name=decision.collector_name,
            entries=tuple(entries),
            jobs=tuple(jobs),
            affected_jobs=len(decision.affected) or len(chunk_jobs),
            created_at=now,
            deployment=deployment,
        )
        alerts.append((alert, list(claims)))
    return alerts


class Recorder:
    """Stores decisions as alerts of the run's deployment (None locally), once. One per run."""

    def __init__(
        self,
        store: StateStore,
        client: BrightDataClient,
        *,
        run_id: str,
        history_ttl_days: int,
        lease_until: Callable[[datetime], datetime],
        dry_run: bool,
        deployment: Deployment | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.run_id = run_id
        self.history_ttl_days = history_ttl_days
        self.lease_until = lease_until
        self.dry_run = dry_run
        self.deployment = deployment
        self.result = Recorded()

    def record(self, decision: Decision, now: datetime, *, error_details: bool = True) -> None:
        """Save the decision's quiet alarms and store its alerts (with a few alerting jobs'
        error details, unless told not to fetch them). Raises ConflictError when another run
        recorded some of it first (the job rules it claimed are noted)."""
        if self.dry_run:
            if decision.entries:
                for alert, _ in build_alerts(decision, {}, now, deployment=self.deployment):
                    self.result.planned.append(to_document(alert))
            return
        try:
            for quiet in decision.quiet_alarms:
                self.store.save_alarm(quiet.alarm, quiet.expected_version)
            if decision.entries:
                self._store_alerts(decision, now, error_details)
        except ConflictError as conflict:
            self.result.note(conflict.claimed_job_rules)
            raise

    def record_with_retries(
        self, plan: Callable[[], Decision], collector_id: str, now: datetime
    ) -> None:
        """Plan and record, re-planning from fresh state when a concurrent run won a claim:
        job claims it won are simply not ours to send; alarms are re-read and re-judged."""
        for attempt in range(CLAIM_RETRIES):
            decision = plan()
            try:
                self.record(decision, now)
                return
            except ConflictError as conflict:
                logger.info(
                    "decision conflict, re-planning",
                    extra={
                        "collector": collector_id,
                        "attempt": attempt,
                        "claims": [claim_label(c) for c in conflict.failed],
                    },
                )
        raise ConflictError(f"could not record decisions for {collector_id} after {CLAIM_RETRIES}")

    def start_reruns(
        self,
        requests: Sequence[RerunRequest],
        collector_id: str,
        collector_name: str | None,
        settings: Settings,
        now: datetime,
    ) -> None:
        """Claim each rerun (once per job, within its collector's daily cap, in one conditional
        transaction), start it, track the new job, and tell of what started (or could not) in one
        follow-up message for the collector, through the outbox."""
        follow_up = Decision(collector_id, collector_name)
        for request in requests:
            claim = JobRuleClaim(request.job_id, RERUN, now, self.history_ttl_days)
            answer = self.store.claim_rerun(claim, request.collector_id, request.max_per_day)
            self.result.note([(request.job_id, RERUN)])
            if answer is RerunClaim.TAKEN:
                continue  # another run claimed it: that run starts it and tells of it
            if answer is RerunClaim.CAPPED:
                logger.warning(
                    "daily rerun cap reached; not rerun",
                    extra={"collector": collector_id, "job_id": request.job_id},
                )
                self.result.reruns["capped"] += 1
                continue
            follow_up.add(*self._start_rerun(request, settings, now))
        if not follow_up.entries:
            return
        try:
            # The new job has no errors yet and the old one's were told: fetch none. Recorded a
            # moment after the alert it follows, so the outbox (in creation order) sends it
            # second.
            self.record(follow_up, now + FOLLOW_UP_DELAY, error_details=False)
        except ConflictError:
            logger.info("rerun follow-up already recorded", extra={"collector": collector_id})

    def _start_rerun(
        self, request: RerunRequest, settings: Settings, now: datetime
    ) -> tuple[AlertEntry, JobRuleClaim]:
        """Start one claimed rerun and track its job; the follow-up that tells of it. Whatever
        happens, the claim stays and the rerun is never asked for again: a rerun spends
        credits, and an unclear answer (a timeout, a 5xx) may mean it started anyway."""
        try:
            # The client validates the new job's id like any job id before handing it over.
            new_job_id = self.client.rerun(request.job_id, failed_only=True).job_id
        except (BrightDataError, InvalidId) as exc:
            self.result.reruns["refused"] += 1
            logger.warning(
                "rerun not started", extra={"job_id": request.job_id, "error": describe(exc)}
            )
            return rerun_refused(request, describe(exc), now, settings)
        self.result.reruns["started"] += 1
        record = JobRecord(
            job_id=new_job_id,
            collector_id=request.collector_id,
            first_seen=now,
            source="rerun",
            ttl=ttl_at(now, settings.job_ttl_days),
            rerun_of=request.job_id,
        )
        try:
            if not self.store.add_job(record):
                # A listing found the new job first: mark it a rerun, so it is never rerun.
                self.store.tag_rerun(new_job_id, request.job_id)
        except Exception:
            # It started: say so even if it could not be tracked (listings still find it).
            logger.exception("tracking the rerun job failed", extra={"job_id": new_job_id})
        return rerun_started(request, new_job_id, now, settings)

    def _store_alerts(self, decision: Decision, now: datetime, error_details: bool) -> None:
        silence = None
        if decision.collector_id:
            silence = self.store.active_silence(decision.collector_id, now)
        errors = self._error_details(decision) if error_details else {}
        for alert, claims in build_alerts(decision, errors, now, deployment=self.deployment):
            hidden = _hide_openings(alert, claims, silence) if silence else False
            document = to_document(alert)
            status = AlertStatus.SUPPRESSED if silence else AlertStatus.PENDING
            record = AlertRecord(
                alert_id=alert.alert_id,
                status=status,
                created_at=now,
                collector_id=decision.collector_id,
                severity=alert.severity.value,
                subject=render_subject(document),
                document=document,
                suppressed_reason=f"silenced: {silence.reason}" if silence else None,
            )
            self.store.record_alert(
                record,
                claims,
                ttl_days=self.history_ttl_days,
                lease_until=self.lease_until(now),
                owner=self.run_id,
            )
            self.result.note([(c.job_id, c.rule) for c in claims if isinstance(c, JobRuleClaim)])
            if silence:
                self.result.suppressed += 1
                if hidden:
                    # Once the silence ends, a run looks for the alarm and announces it if open.
                    self.store.hidden_alarm_due(silence.until)
                    self.result.hidden_until.add(silence.until)
            else:
                self.result.alerted_jobs.update(
                    job_id
                    for entry in alert.entries
                    if entry.kind in (AlertKind.JOB, AlertKind.ALARM)
                    for job_id in entry.job_ids
                )

    def _error_details(self, decision: Decision) -> dict[str, ErrorSummary]:
        details: dict[str, ErrorSummary] = {}
        wanted = [
            job_id
            for e in decision.entries
            if e.kind in (AlertKind.ALARM, AlertKind.JOB)
            for job_id in e.job_ids
        ]
        for job_id in list(dict.fromkeys(wanted))[:ERROR_DETAIL_JOBS]:
            try:
                errors = self.client.get_errors(job_id, limit=50)
            except BrightDataError as exc:
                logger.info("no error details", extra={"job_id": job_id, "error": describe(exc)})
                continue
            details[job_id] = summarize_errors(errors)
        return details


def _hide_openings(alert: Alert, claims: Sequence[Claim], silence: Silence) -> bool:
    """Mark each alarm this suppressed alert opens as hidden by the silence (it is written with
    the alert), so that it is announced when the silence ends; True when there was one."""
    hidden = False
    for entry, claim in zip(alert.entries, claims, strict=True):
        if entry.kind is AlertKind.ALARM and isinstance(claim, AlarmClaim):
            claim.alarm.hidden_by = silence
            hidden = True
    return hidden


def summarize_errors(errors: Sequence[dict[str, Any]]) -> ErrorSummary:
    kinds: Counter[str] = Counter()
    samples: list[tuple[str, str]] = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        text = str(error.get("error") or "unknown error").strip()
        kind = text.splitlines()[0][:120] if text else "unknown error"
        kinds[kind] += 1
        url = error.get("url")
        if isinstance(url, str) and len(samples) < 3:
            samples.append((url[:300], kind))
    return ErrorSummary(kinds=tuple(kinds.most_common(5)), samples=tuple(samples))


__all__ = [
    "Recorded",
    "Recorder",
    "build_alerts",
    "claim_label",
    "summarize_errors",
]
