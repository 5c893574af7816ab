"""One monitor run, as a pipeline of stages: deliver what is owed → discover → read → judge →
decide → record (then rerun failed inputs, where opted in) → publish → persist. `Monitor.run`
only orchestrates and builds the run summary from what the stages return; see each stage's
module for how it works."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from job_alerts.brightdata import (
    BrightDataClient,
    BrightDataError,
    Forbidden,
    NotFound,
    Unauthorized,
)
from job_alerts.config import AlertMode, Settings
from job_alerts.decide import (
    Decision,
    JudgedJob,
    Judgement,
    UnreadableJob,
    assess_health,
    collector_of,
    decide_collector,
    decide_health,
    judge_activity,
    judge_jobs,
    unjudgeable_reason,
)
from job_alerts.discovery import Discovery, discover
from job_alerts.history import History
from job_alerts.joblog import JobLog
from job_alerts.models import (
    ConflictError,
    Health,
    HealthState,
    JobRecord,
    RuleAlarm,
    Silence,
)
from job_alerts.observability import logger
from job_alerts.publish import Publisher, deliver_outbox
from job_alerts.reading import ReadOutcome, read_jobs, reading_order, token_contradicted
from job_alerts.recording import Recorder, summarize_errors
from job_alerts.remediation import plan_reruns
from job_alerts.rules import RuleResult, Verdict
from job_alerts.state import StateStore
from job_alerts.thresholds import Overrides, Thresholds, unknown_override_ids
from job_alerts.timeutil import Clock, iso, parse_moment, system_clock

LOCAL_LEASE = timedelta(minutes=10)
# Why a job is unreadable when it alone answers 401 (the token works for other calls).
REFUSED_FOR_JOB = "unauthorized_for_job"
# How the monitor's own health counts among the decisions owed.
MONITOR_OWED = "monitor"


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    dry_run: bool = False
    duration_ms: int = 0
    health: str = HealthState.HEALTHY.value
    collectors_seen: int = 0
    collectors_listed: int = 0
    # Listings left for the next run: discovery's share of the run's time was spent.
    collectors_deferred: int = 0
    jobs_discovered: int = 0
    live_jobs: int = 0
    jobs_read: int = 0
    jobs_deferred: int = 0
    jobs_settled: int = 0
    jobs_expired: int = 0
    read_errors: dict[str, int] = field(default_factory=dict)
    # Answers that could not be judged, by reason (html, not_json, too_large, ...).
    unjudgeable: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    # Per collector: jobs judged and findings this run (for per-collector metrics).
    collectors: dict[str, dict[str, int]] = field(default_factory=dict)
    alerts_sent: int = 0
    alerts_suppressed: int = 0
    alerts_failed: int = 0
    # Collectors (or the monitor's own health) whose decisions could not be recorded this run:
    # owed to the next run, their jobs left live.
    decisions_owed: int = 0
    alerts_planned: list[dict[str, Any]] = field(default_factory=list)
    api_calls: dict[str, Any] = field(default_factory=dict)
    state_ops: dict[str, int] = field(default_factory=dict)
    # Reruns of failed inputs: started, refused (by the API), capped (the day's count reached).
    reruns: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "alerts_planned"}
        data["started_at"] = iso(self.started_at)
        if self.dry_run:
            data["alerts_planned"] = self.alerts_planned
        return data


class Monitor:
    def __init__(
        self,
        settings: Settings,
        client: BrightDataClient,
        store: StateStore,
        publisher: Publisher | None,
        thresholds_for: Callable[[str | None], Thresholds],
        *,
        clock: Clock | None = None,
        remaining_ms: Callable[[], int] | None = None,
        run_id: str | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.publisher = publisher
        self.thresholds_for = thresholds_for
        self.clock = clock or system_clock
        self.remaining_ms = remaining_ms
        self.run_id = run_id or uuid.uuid4().hex[:12]
        # The per-collector override document, to name limits that judge no collector.
        self.overrides = overrides

    def run(self, *, dry_run: bool = False) -> RunSummary:
        started = time.monotonic()
        now = self.clock()
        summary = RunSummary(run_id=self.run_id, started_at=now, dry_run=dry_run)
        health = self.store.get_health()
        if not dry_run:
            self._publish(summary)

        found = discover(
            self.client,
            self.store,
            self.settings,
            now,
            dry_run=dry_run,
            listing_time_left=self._discovery_time_left(),
            time_left=self._time_left,
        )
        self._warn_unknown_overrides(found)
        ordered = reading_order(self.store.live_jobs(), found.new_jobs, health.live_cursor)
        reading = read_jobs(
            self.client,
            ordered,
            max_concurrency=self.settings.max_concurrency,
            time_left=self._time_left,
        )
        token_proven = token_contradicted(reading.outcomes, found.token_accepted)
        unlisted_runs = health.account_unlisted_runs + 1 if found.account_unlisted else 0
        read_errors = [o.error for o in reading.outcomes if o.error is not None]
        assessment = assess_health(
            token_rejected=found.token_rejected,
            listing_failures=found.failures,
            listing_attempts=found.attempts,
            read_errors=read_errors,
            reads=len(reading.outcomes),
            refused=found.errors,
            token_proven=token_proven,
            account_unlisted_runs=unlisted_runs,
        )
        unreadable = unreadable_jobs(reading.outcomes, token_proven=token_proven)

        recorder = self._recorder(dry_run)
        health_change = decide_health(health, assessment, now, account_unlisted_runs=unlisted_runs)
        if health_change is not None:
            try:
                recorder.record(health_change, now)
            except ConflictError:
                # A concurrent run recorded this change of health first and sends its alert;
                # this run goes on (its job decisions are claimed one by one, so nothing repeats).
                logger.info("health change already recorded by another run")
            except Exception:
                # Not recorded (DynamoDB kept cancelling or refusing it): the stored health is
                # unchanged, so the next run decides the same change again.
                logger.exception("recording the health change failed; it stays owed")
                recorder.result.owed.add(MONITOR_OWED)

        # Degraded: no per-job verdicts from partial data; every job stays live for later.
        if assessment.state.judges_jobs:
            read = [(o.record, o.job) for o in reading.outcomes if o.job is not None]
            judgement = judge_jobs(read, self.thresholds_for, now, self._baselines(read))
            activity = found.with_listing(judge_activity(found.cadence, self.thresholds_for, now))
            hidden_due = health.hidden_due is not None and health.hidden_due <= now
            recorded = self._decide_and_record(
                judgement,
                activity,
                found.new_activity | found.recovered,
                unreadable,
                found.names,
                recorder,
                now,
                hidden_due=hidden_due,
            )
            summary.findings, summary.collectors = _findings(judgement, activity)
            if not dry_run:
                persisted = persist(
                    self.store, reading.outcomes, unreadable, recorded, recorder, now
                )
                summary.jobs_settled, summary.jobs_expired = persisted
                self._save_baselines(judgement.histories, recorded)
                self._settle_hidden_due(health, recorder, now)
        if not dry_run:
            self._publish(summary, own_only=True)
            if reading.cursor != health.live_cursor:
                self.store.save_cursor(reading.cursor)
            if unlisted_runs != health.account_unlisted_runs:
                self.store.save_account_unlisted_runs(unlisted_runs)

        summary.health = assessment.state.value
        summary.collectors_seen = found.collectors_seen
        summary.collectors_listed = found.collectors_listed
        summary.collectors_deferred = found.deferred
        summary.jobs_discovered = len(found.new_jobs)
        summary.live_jobs = len(ordered)
        summary.jobs_read = sum(1 for o in reading.outcomes if o.job is not None)
        summary.jobs_deferred = reading.deferred
        summary.read_errors = dict(Counter(type(e).__name__ for e in read_errors))
        summary.unjudgeable = dict(
            Counter(u.reason for u in unreadable.values() if u.last_error is None)
        )
        summary.alerts_suppressed = recorder.result.suppressed
        summary.decisions_owed = len(recorder.result.owed)
        summary.alerts_planned = recorder.result.planned
        summary.reruns = dict(recorder.result.reruns)
        summary.duration_ms = int((time.monotonic() - started) * 1000)
        summary.api_calls = self.client.stats.snapshot()
        summary.state_ops = self.store.ops.snapshot()
        return summary

    def deliver_outbox(self, summary: RunSummary) -> None:
        """Publish what is owed (also used on its own, e.g. by the CLI)."""
        self._publish(summary)

    # ---- the stages' plumbing ---------------------------------------------------------------
    def _baselines(self, read: Sequence[tuple[JobRecord, JobLog]]) -> dict[str, History]:
        """The remembered settled jobs of the collectors with a settled job read this run (one
        batch read; none when no job settled)."""
        settled = {collector_of(job, record) for record, job in read if job.settled}
        return self.store.baselines(sorted(settled)) if settled else {}

    def _save_baselines(self, histories: dict[str, History], recorded: set[str]) -> None:
        """Save each extended baseline whose collector's decisions were recorded. Lost to a
        concurrent run, it is merged into what that run saved, once; a baseline only sharpens
        judgement, so failing that is logged, not fatal."""
        for cid, history in histories.items():
            if cid not in recorded:
                continue
            try:
                if self.store.save_baseline(cid, history):
                    continue
                merged = self.store.baselines([cid])[cid]
                for past in history.settled:
                    merged = merged.with_settled(past)
                if not self.store.save_baseline(cid, merged):
                    logger.warning("baseline changed concurrently", extra={"collector": cid})
            except Exception:
                logger.exception("saving a baseline failed", extra={"collector": cid})

    def _decide_and_record(
        self,
        judgement: Judgement,
        activity: dict[str, tuple[RuleResult, ...]],
        new_activity: set[str],
        unreadable: dict[str, UnreadableJob],
        names: dict[str, str],
        recorder: Recorder,
        now: datetime,
        *,
        hidden_due: bool = False,
    ) -> set[str]:
        """Decide and record per collector (with `hidden_due`, every collector with an open
        alarm too: a silence that hid one may have ended). Returns the collectors whose
        decisions are safely recorded (their settled jobs may leave the live set)."""
        by_collector: dict[str, Sequence[JudgedJob]] = dict(judgement.by_collector)
        unreadable_by: dict[str, list[UnreadableJob]] = {}
        for gone in unreadable.values():
            cid = gone.record.collector_id or "unknown"
            unreadable_by.setdefault(cid, []).append(gone)
            by_collector.setdefault(cid, [])
        for cid in self._owed_decisions(activity, new_activity, hidden_due):
            by_collector.setdefault(cid, [])
        every_job = self.settings.alert_mode is AlertMode.EVERY_JOB
        recorded: set[str] = set()
        for cid, judged in by_collector.items():

            def plan(cid: str = cid, judged: Sequence[JudgedJob] = judged) -> Decision:
                wide = activity.get(cid, ())
                alarms = {} if every_job and not wide else self.store.get_alarms(cid)
                silence = self._silence_over_hidden(cid, alarms, recorder, now)
                return decide_collector(
                    cid,
                    names.get(cid),
                    judged,
                    alarms,
                    self.settings,
                    now,
                    claimed=recorder.result.claimed,
                    unreadable=unreadable_by.get(cid, ()),
                    activity=wide,
                    silence=silence,
                )

            try:
                recorder.record_with_retries(plan, cid, now)
            except Exception:
                # Leave this collector's jobs live: the next run re-judges them and the claims
                # already made keep that from repeating anything.
                logger.exception("recording decisions failed", extra={"collector": cid})
                recorder.result.owed.add(cid)
                continue
            recorded.add(cid)
            self._rerun_failed_inputs(cid, names.get(cid), judged, recorder, now)
        return recorded

    def _rerun_failed_inputs(
        self,
        cid: str,
        name: str | None,
        judged: Sequence[JudgedJob],
        recorder: Recorder,
        now: datetime,
    ) -> None:
        """Once the collector's decisions are recorded: rerun the failed inputs of its jobs an
        alert of this run is about, where opted in (see remediation). Failing is logged, not
        fatal: the alerts are recorded, and a rerun is never asked for twice anyway."""
        alerted = [
            (item.record, item.job)
            for item in judged
            if item.job.job_id in recorder.result.alerted_jobs
        ]
        requests = plan_reruns(
            alerted,
            self.thresholds_for,
            self.settings,
            claimed=recorder.result.claimed,
            dry_run=recorder.dry_run,
        )
        if not requests:
            return
        try:
            recorder.start_reruns(requests, cid, name, self.settings, now)
        except Exception:
            logger.exception("rerunning failed inputs failed", extra={"collector": cid})

    def _warn_unknown_overrides(self, found: Discovery) -> None:
        """Log, once a run, the override document's collector ids that collectors_list did not
        show: limits that judge no job (a mistyped id). Costs no call: discovery listed them."""
        if found.listed_ids is None:
            return
        unknown = unknown_override_ids(self.overrides, found.listed_ids)
        if unknown:
            logger.warning(
                "threshold overrides for collectors this account does not list",
                extra={"collectors": list(unknown)},
            )

    def _silence_over_hidden(
        self, cid: str, alarms: dict[str, RuleAlarm], recorder: Recorder, now: datetime
    ) -> Silence | None:
        """The silence in force for a collector with an alarm whose opening a silence hid (one
        read, only then); while one is, the run notes when it ends, to look again then."""
        if not any(alarm.hidden_by is not None for alarm in alarms.values()):
            return None
        silence = self.store.active_silence(cid, now)
        if silence is not None:
            recorder.result.hidden_until.add(silence.until)
        return silence

    def _settle_hidden_due(self, health: Health, recorder: Recorder, now: datetime) -> None:
        """After a run that looked for alarms a silence hid: note when to look next (the earliest
        silence still hiding one), or that none is left. Kept as it is while some collector's
        decisions are owed, so the next run looks again."""
        if health.hidden_due is None or health.hidden_due > now or recorder.result.owed:
            return
        due = min(recorder.result.hidden_until, default=None)
        try:
            self.store.settle_hidden_due(health, due)
        except Exception:
            logger.exception("noting when to look for hidden alarms failed; the next run looks")

    def _owed_decisions(
        self,
        activity: dict[str, tuple[RuleResult, ...]],
        new_activity: set[str],
        hidden_due: bool = False,
    ) -> set[str]:
        """Collectors with no job to judge that may still owe a message: a collector-wide rule
        breached (an alarm to open), or an open alarm (a reminder; or an alarm to resolve,
        which only `new_activity` can end: a collector that started a job since its last
        listing, or whose listing works again, is back or is no longer watched; or, with
        `hidden_due`, an alarm a silence hid to announce). One query of the open alarms, only
        when it can matter: a quiet run makes none."""
        owed = {cid for cid, results in activity.items() if _breached(results)}
        reminders = bool(self.settings.repeat_after_minutes)
        resumed = {cid for cid in new_activity if not _breached(activity.get(cid, ()))}
        if reminders or resumed or hidden_due:
            open_alarms = self.store.collectors_with_open_alarms()
            owed |= open_alarms if reminders or hidden_due else open_alarms & resumed
        return owed

    def _recorder(self, dry_run: bool) -> Recorder:
        return Recorder(
            self.store,
            self.client,
            run_id=self.run_id,
            history_ttl_days=self.settings.history_ttl_days,
            lease_until=self._lease_until,
            dry_run=dry_run,
            deployment=self.settings.deployment,
        )

    def _publish(self, summary: RunSummary, own_only: bool = False) -> None:
        if self.publisher is None:
            return
        delivery = deliver_outbox(
            self.store,
            self.publisher,
            run_id=self.run_id,
            clock=self.clock,
            lease_until=self._lease_until,
            own_only=own_only,
        )
        summary.alerts_sent += delivery.sent
        summary.alerts_failed += delivery.failed

    def _time_left(self) -> bool:
        if self.remaining_ms is None:
            return True
        return self.remaining_ms() > self.settings.deadline_margin_seconds * 1000

    def _discovery_time_left(self) -> Callable[[], bool]:
        """Discovery's share of the run: it starts no listing once half of the time left at its
        first check is spent, so reading keeps the other half however many collectors there
        are to list."""
        remaining = self.remaining_ms
        if remaining is None:
            return lambda: True
        margin = self.settings.deadline_margin_seconds * 1000
        floor: list[float] = []

        def time_left() -> bool:
            left = remaining()
            if not floor:
                floor.append(max(left / 2, margin))
            return left > floor[0]

        return time_left

    def _lease_until(self, now: datetime) -> datetime:
        # An entry is only re-published by another run once this run is surely over: in Lambda
        # that is its deadline (plus a margin); locally a fixed lease.
        if self.remaining_ms is not None:
            return now + timedelta(milliseconds=self.remaining_ms()) + timedelta(seconds=60)
        return now + LOCAL_LEASE


def _breached(results: Sequence[RuleResult]) -> bool:
    return any(result.verdict is Verdict.BREACH for result in results)


def _findings(
    judgement: Judgement, activity: dict[str, tuple[RuleResult, ...]]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """This run's findings by rule, and per collector, the jobs' and the collector-wide rules'."""
    findings = Counter(judgement.findings)
    collectors = {cid: dict(stats) for cid, stats in judgement.collectors.items()}
    for cid, results in activity.items():
        for result in results:
            if result.verdict is Verdict.BREACH:
                findings[result.rule.value] += 1
                stats = collectors.setdefault(cid, {"jobs_read": 0, "findings": 0})
                stats["findings"] += 1
    return dict(findings), collectors


def unreadable_jobs(
    outcomes: Sequence[ReadOutcome], *, token_proven: bool = False
) -> dict[str, UnreadableJob]:
    """The jobs whose answer could not be judged this run, by id, with their count of such reads
    in a row (this one included). A job answering 401 while the token works for other calls
    (`token_proven`) is one of them: an id the token cannot see."""
    found: dict[str, UnreadableJob] = {}
    for outcome in outcomes:
        error = outcome.error
        record = outcome.record
        reason = unjudgeable_reason(error)
        if reason is None and token_proven and isinstance(error, Unauthorized):
            reason = REFUSED_FOR_JOB
        if reason is not None:
            sample = getattr(error, "sample", "") or ""
            found[record.job_id] = UnreadableJob(
                record, reason, sample, record.unreadable_reads + 1
            )
            continue
        reason = failed_read_reason(error)
        if reason is not None:
            found[record.job_id] = UnreadableJob(
                record, reason, "", record.unreadable_reads + 1, last_error=str(error)[:300]
            )
    return found


def failed_read_reason(error: object) -> str | None:
    """Why a read of one job got no answer at all, when that is the job's problem and not the
    API's or the token's: it failed (5xx, timeout, 429 after the retries, an unexpected status).
    A run whose calls mostly failed is API_UNREACHABLE and judges (and persists) nothing, so these
    count only in runs the API served. A 404 is counted by persist (the job may be gone), a 401 is
    the token's unless other calls were accepted (REFUSED_FOR_JOB), a 403 makes the run
    ENDPOINT_REFUSED."""
    if not isinstance(error, BrightDataError) or isinstance(
        error, NotFound | Forbidden | Unauthorized
    ):
        return None
    if error.kind != BrightDataError.kind:
        return error.kind  # transient, rate_limited, invalid_id
    return f"http_{error.status}" if error.status else "failed"


# A 404 for a job Bright Data still keeps is a glitch (it was listed or read as running minutes
# ago): a job expires only after this many reads answering 404 since its last good read, the
# first and the last at least this far apart...
EXPIRE_AFTER_NOT_FOUND_READS = 3
EXPIRE_AFTER_NOT_FOUND_FOR = timedelta(minutes=30)
# ...or on a 404 once it is older than Bright Data keeps a job: batch (j_) and real-time (vj_).
BATCH_JOB_RETENTION = timedelta(days=16)
REAL_TIME_JOB_RETENTION = timedelta(days=7)


def gone_for_good(record: JobRecord, now: datetime) -> bool:
    """Whether a job whose reads answered 404 (`not_found_reads` of them, this one counted) is
    expired: the 404s repeated over time, or the job past its retention. Its age runs from its
    log's `created` when known, else from when it was first seen."""
    first = record.first_not_found or now
    if (
        record.not_found_reads >= EXPIRE_AFTER_NOT_FOUND_READS
        and now - first >= EXPIRE_AFTER_NOT_FOUND_FOR
    ):
        return True
    try:
        created = parse_moment((record.log or {}).get("created"))
    except ValueError:
        created = None
    born = min(record.first_seen, created) if created else record.first_seen
    real_time = record.job_id.startswith("vj_")
    return now - born > (REAL_TIME_JOB_RETENTION if real_time else BATCH_JOB_RETENTION)


def persist(
    store: StateStore,
    outcomes: Sequence[ReadOutcome],
    unreadable: dict[str, UnreadableJob],
    recorded: set[str],
    recorder: Recorder,
    now: datetime,
) -> tuple[int, int]:
    """Persist stage: write the jobs whose state changed (unchanged jobs cost no write). A settled
    job leaves the live set only once its collector's decisions are recorded; a job that could
    not be judged stays live, its count of such reads in a row kept; a job answering 404 stays
    live, its 404s counted, until it is gone for good (then it expires). Returns (settled,
    expired)."""
    changed: list[JobRecord] = []
    settled = expired = 0
    for outcome in outcomes:
        record = outcome.record
        new_alerts = recorder.result.claimed.get(record.job_id, set())
        if isinstance(outcome.error, NotFound):
            record.not_found_reads += 1
            record.first_not_found = record.first_not_found or now
            if gone_for_good(record, now):
                record.expired = True
                expired += 1
            changed.append(record)
            continue
        gone = unreadable.get(record.job_id)
        if gone is not None:
            record.unreadable_reads = gone.reads_in_a_row
            record.unreadable_reason = gone.reason
            record.alerted = sorted(set(record.alerted) | new_alerts)
            changed.append(record)
            continue
        job = outcome.job
        if job is None:
            continue
        fingerprint = job.fingerprint()
        may_settle = job.settled and collector_of(job, record) in recorded
        if (
            fingerprint == record.fingerprint
            and not new_alerts
            and may_settle == record.settled
            and not record.unreadable_reads
            and not record.not_found_reads
        ):
            continue  # unchanged: no write
        record.unreadable_reads = 0
        record.unreadable_reason = None
        record.not_found_reads = 0
        record.first_not_found = None
        record.fingerprint = fingerprint
        record.status = job.status.value
        record.collector_id = record.collector_id or job.collector_id
        record.log = job.to_dict()
        record.last_read = now
        record.alerted = sorted(set(record.alerted) | new_alerts)
        if may_settle:
            record.settled = True
            settled += 1
        changed.append(record)
    if changed:
        store.put_jobs(changed)
    return settled, expired


__all__ = ["Monitor", "RunSummary", "persist", "summarize_errors", "unreadable_jobs"]
