"""One monitor run: deliver what is owed, discover jobs, read live ones (bounded, deadline-aware),
judge them, move alarm states, claim and publish alerts, persist what changed."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
from job_alerts.brightdata import (
    BrightDataClient,
    BrightDataError,
    NotFound,
    RateLimited,
    Transient,
    Unauthorized,
    validate_job_id,
)
from job_alerts.config import AlertMode, Settings
from job_alerts.joblog import JobLog, JobLogError, parse_job_log
from job_alerts.observability import logger
from job_alerts.publish import AlertPublisher
from job_alerts.rules import (
    COLLECTOR_RULES,
    JOB_EVENT_RULES,
    RULE_SEVERITY,
    Rule,
    RuleResult,
    Severity,
    Verdict,
    judge,
)
from job_alerts.state import (
    AlarmState,
    AlertRecord,
    AlertStatus,
    Claim,
    ConflictError,
    Health,
    HealthState,
    JobRecord,
    RuleAlarm,
    StateStore,
    iso,
    parse_iso,
    ttl_at,
)
from job_alerts.thresholds import Thresholds
from job_alerts.timeutil import system_clock

# When more than this share of a run's Bright Data calls fail (after retries), the API counts as
# unreachable: one DEGRADED alert, and no verdicts from what little was read.
UNREACHABLE_FAILURE_SHARE = 0.5
# Error details are fetched for a few alerting jobs only: enough to say why, cheap to get.
ERROR_DETAIL_JOBS = 3
ALERT_JOBS_SHOWN = 20
# Leave room for the alert's own item and outbox entry in one 100-item transaction.
MAX_CLAIMS_PER_ALERT = 90
CLAIM_RETRIES = 3
LOCAL_LEASE = timedelta(minutes=10)
# Even when a collector's last_run says nothing new started, list its jobs this often: last_run's
# exact meaning is not documented, and a missed job must not stay missed.
FULL_LIST_INTERVAL = timedelta(minutes=30)
# A job queued this long before the previous listing was in that listing (clock skew allowed).
LISTING_OVERLAP = timedelta(hours=1)


@dataclass
class ReadOutcome:
    record: JobRecord
    job: JobLog | None = None
    error: BrightDataError | JobLogError | None = None


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    dry_run: bool = False
    duration_ms: int = 0
    health: str = HealthState.HEALTHY.value
    collectors_seen: int = 0
    collectors_listed: int = 0
    jobs_discovered: int = 0
    live_jobs: int = 0
    jobs_read: int = 0
    jobs_deferred: int = 0
    jobs_settled: int = 0
    jobs_expired: int = 0
    read_errors: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    # Per collector: jobs judged and findings this run (for per-collector metrics).
    collectors: dict[str, dict[str, int]] = field(default_factory=dict)
    alerts_sent: int = 0
    alerts_suppressed: int = 0
    alerts_failed: int = 0
    alerts_planned: list[dict[str, Any]] = field(default_factory=list)
    api_calls: dict[str, Any] = field(default_factory=dict)
    state_ops: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "alerts_planned"}
        data["started_at"] = iso(self.started_at)
        if self.dry_run:
            data["alerts_planned"] = self.alerts_planned
        return data


@dataclass
class _Pending:
    """What one collector's message will say, and the claims that make it once-only."""

    collector_id: str | None
    collector_name: str | None = None
    entries: list[AlertEntry] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    jobs: dict[str, JobLog] = field(default_factory=dict)
    alarms: dict[str, tuple[RuleAlarm, int]] = field(default_factory=dict)
    affected: set[str] = field(default_factory=set)
    findings: dict[str, dict[str, RuleResult]] = field(default_factory=dict)


class Monitor:
    def __init__(
        self,
        settings: Settings,
        client: BrightDataClient,
        store: StateStore,
        publisher: AlertPublisher | None,
        thresholds_for: Callable[[str | None], Thresholds],
        *,
        clock: Callable[[], datetime] | None = None,
        remaining_ms: Callable[[], int] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.publisher = publisher
        self.thresholds_for = thresholds_for
        self.clock = clock or system_clock
        self.remaining_ms = remaining_ms
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._names: dict[str, str] = {}
        # Rules found claimed for a job during this run (by this run, or by a concurrent one that
        # won the claim), so planning skips them and the job's stored record says so.
        self._alerted_now: dict[str, set[str]] = {}
        self._new_jobs: list[JobRecord] = []

    # ------------------------------------------------------------------------------------
    def run(self, *, dry_run: bool = False) -> RunSummary:
        started = time.monotonic()
        now = self.clock()
        summary = RunSummary(run_id=self.run_id, started_at=now, dry_run=dry_run)
        health = self.store.get_health()
        if not dry_run:
            self.deliver_outbox(summary)

        list_failures, list_attempts, auth_failed = self._discover(now, summary, dry_run)
        ordered = self._select(health, self._new_jobs)
        summary.live_jobs = len(ordered)
        outcomes, deferred_from = self._read(ordered)
        summary.jobs_read = sum(1 for o in outcomes if o.job is not None)
        summary.jobs_deferred = len(ordered) - len(outcomes)
        errors = Counter(type(o.error).__name__ for o in outcomes if o.error is not None)
        summary.read_errors = dict(errors)

        auth_failed = auth_failed or any(isinstance(o.error, Unauthorized) for o in outcomes)
        transient = sum(1 for o in outcomes if _is_unreachable(o.error))
        attempts = list_attempts + len(outcomes)
        failures = list_failures + transient
        new_health = _judge_health(auth_failed, failures, attempts)
        summary.health = new_health.value
        self._health_transition(health, new_health, now, summary, dry_run, errors)

        # Degraded: no per-job verdicts from partial data; every job stays live for later.
        if new_health is HealthState.HEALTHY:
            recorded = self._evaluate(outcomes, now, summary, dry_run)
            if not dry_run:
                self._persist(outcomes, recorded, now, summary)
        if not dry_run:
            self.deliver_outbox(summary, own_only=True)
            cursor = ordered[deferred_from - 1].live_sort_key if summary.jobs_deferred else None
            if cursor != health.live_cursor:
                self.store.save_cursor(cursor)

        summary.duration_ms = int((time.monotonic() - started) * 1000)
        summary.api_calls = self.client.stats.snapshot()
        summary.state_ops = self.store.ops.snapshot()
        return summary

    # ---- discovery ----------------------------------------------------------------------
    def _discover(self, now: datetime, summary: RunSummary, dry_run: bool) -> tuple[int, int, bool]:
        """List collectors and (only where something new ran) their jobs; record new job ids.
        Returns (failed list calls, list calls, whether the token was rejected)."""
        failures = attempts = 0
        try:
            attempts += 1
            collectors = self.client.list_collectors()
        except Unauthorized:
            return 1, 1, True
        except BrightDataError as exc:
            logger.warning("listing collectors failed", extra={"error": _describe(exc)})
            return 1, 1, False
        wanted = set(self.settings.collectors)
        seen = [c for c in collectors if isinstance(c, dict) and c.get("id")]
        if wanted:
            seen = [c for c in seen if c["id"] in wanted]
        summary.collectors_seen = len(seen)
        self._names = {c["id"]: str(c.get("name") or c["id"]) for c in seen}
        known = self.store.collector_meta()
        today = now.date()
        start = today - timedelta(days=self.settings.lookback_days)
        plans = [p for p in (_listing_plan(c, known.get(c["id"]), now) for c in seen) if p]
        listed_meta = []
        found: dict[str, str] = {}
        auth_failed = False
        for plan, result in zip(plans, self._list_jobs(plans, start, today), strict=True):
            attempts += 1
            if isinstance(result, Unauthorized):
                failures += 1
                auth_failed = True
                continue
            if isinstance(result, BrightDataError):
                failures += 1 if _is_unreachable(result) else 0
                logger.warning(
                    "listing jobs failed",
                    extra={"collector": plan.collector_id, "error": _describe(result)},
                )
                continue
            summary.collectors_listed += 1
            for job in result:
                job_id = job.get("id") if isinstance(job, dict) else None
                if not isinstance(job_id, str):
                    continue
                queued = _listed_time(job)
                # Jobs queued well before the previous listing were recorded then: not looked
                # up again, except on the periodic full pass.
                if plan.seen_before and queued is not None and queued < plan.seen_before:
                    continue
                found[job_id] = plan.collector_id
            listed_meta.append(
                {
                    "collector_id": plan.collector_id,
                    "name": self._names[plan.collector_id],
                    "last_run": plan.last_run,
                    "listed_at": iso(now),
                    "full_at": iso(now) if plan.full_pass else plan.full_at,
                }
            )
        if auth_failed:
            return failures, attempts, True
        readable: dict[str, str] = {}
        for job_id, cid in found.items():
            # Validate before the ids become table keys: an oversized or odd id would make
            # DynamoDB refuse the whole batch read below and fail the run.
            try:
                validate_job_id(job_id)
            except ValueError:
                logger.warning("ignoring a job id the API listed but we cannot read")
                continue
            readable[job_id] = cid
        if readable:
            existing = self.store.get_jobs(readable)
            for job_id, cid in readable.items():
                if job_id in existing:
                    continue
                record = JobRecord(
                    job_id=job_id,
                    collector_id=cid,
                    first_seen=now,
                    ttl=ttl_at(now, self.settings.job_ttl_days),
                )
                # A dry run reads and judges new jobs too; it just does not record them.
                if dry_run or self.store.add_job(record):
                    self._new_jobs.append(record)
                    summary.jobs_discovered += 1
        if listed_meta and not dry_run:
            self.store.save_collector_meta(listed_meta)
        return failures, attempts, False

    def _list_jobs(
        self, plans: Sequence[_ListingPlan], start: date, end: date
    ) -> list[list[dict[str, Any]] | BrightDataError]:
        """List the planned collectors' jobs, several at a time (each listing may be pages)."""
        if not plans:
            return []

        def one(plan: _ListingPlan) -> list[dict[str, Any]] | BrightDataError:
            try:
                return self.client.list_jobs(plan.collector_id, start, end)
            except BrightDataError as exc:
                return exc

        workers = min(self.settings.max_concurrency, len(plans))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list") as pool:
            return list(pool.map(one, plans))

    def _select(self, health: Health, new_jobs: Sequence[JobRecord]) -> list[JobRecord]:
        """Live jobs in a fair order: continue after where the last (cut short) run stopped, so
        when there are more live jobs than one run can read, none is starved. Jobs recorded in
        this run are added directly: the index is eventually consistent and may lag."""
        by_id = {r.job_id: r for r in new_jobs}
        by_id.update((r.job_id, r) for r in self.store.live_jobs())
        live = sorted(by_id.values(), key=lambda r: r.live_sort_key)
        cursor = health.live_cursor
        if not cursor:
            return live
        after = [r for r in live if r.live_sort_key > cursor]
        before = [r for r in live if r.live_sort_key <= cursor]
        return after + before

    # ---- reading ------------------------------------------------------------------------
    def _time_left(self) -> bool:
        if self.remaining_ms is None:
            return True
        return self.remaining_ms() > self.settings.deadline_margin_seconds * 1000

    def _read(self, ordered: Sequence[JobRecord]) -> tuple[list[ReadOutcome], int]:
        """Read logs with at most MAX_CONCURRENCY in flight; stop starting reads when the
        deadline nears or the token is rejected. Returns outcomes and how many were started."""
        outcomes: list[ReadOutcome] = []
        if not ordered:
            return outcomes, 0
        started = 0
        stop = False
        workers = min(self.settings.max_concurrency, len(ordered))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
            in_flight: dict[Future[dict[str, Any]], JobRecord] = {}
            while True:
                while (
                    not stop
                    and started < len(ordered)
                    and len(in_flight) < workers
                    and self._time_left()
                ):
                    record = ordered[started]
                    in_flight[pool.submit(self.client.get_log, record.job_id)] = record
                    started += 1
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    record = in_flight.pop(future)
                    outcome = _outcome(record, future)
                    outcomes.append(outcome)
                    if isinstance(outcome.error, Unauthorized):
                        stop = True
                if not self._time_left():
                    stop = True
        return outcomes, started

    # ---- health -------------------------------------------------------------------------
    def _health_transition(
        self,
        health: Health,
        new: HealthState,
        now: datetime,
        summary: RunSummary,
        dry_run: bool,
        errors: Counter[str],
    ) -> None:
        if new is health.state:
            return
        if new is HealthState.HEALTHY:
            entry = AlertEntry(
                kind=AlertKind.RECOVERED,
                rule="api_health",
                severity=Severity.CRITICAL,  # as severe as the DEGRADED alert it ends
                message="Bright Data API reachable and token accepted again",
                observed=new.value,
                limit=None,
                since=health.since,
                duration_s=(now - health.since).total_seconds() if health.since else None,
            )
        else:
            message = (
                "Bright Data API token rejected (401/403): no job can be read"
                if new is HealthState.TOKEN_REJECTED
                else "Bright Data API unreachable: most reads failed this run"
            )
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
            entry = AlertEntry(
                kind=AlertKind.DEGRADED,
                rule="api_health",
                severity=Severity.CRITICAL,
                message=f"{message} ({detail})" if detail else message,
                observed=new.value,
                limit=HealthState.HEALTHY.value,
                since=now,
            )
        updated = Health(
            state=new,
            since=now,
            version=health.version + 1,
            live_cursor=health.live_cursor,
            detail=entry.message,
        )
        pending = _Pending(collector_id=None)
        pending.entries.append(entry)
        pending.claims.append(self.store.health_claim(updated, health.version))
        try:
            self._emit(pending, now, summary, dry_run)
        except ConflictError:
            # A concurrent run recorded this change of health first and sends its alert; this
            # run goes on (its job decisions are claimed one by one, so nothing repeats).
            logger.info("health change already recorded by another run")

    # ---- evaluation and decisions --------------------------------------------------------
    def _evaluate(
        self, outcomes: Sequence[ReadOutcome], now: datetime, summary: RunSummary, dry_run: bool
    ) -> set[str]:
        """Judge every job read, move alarm states, claim and store alerts. Returns the ids of
        collectors whose decisions are safely recorded (their settled jobs may leave LIVE)."""
        by_collector: dict[str, list[tuple[JobLog, JobRecord, list[RuleResult]]]] = defaultdict(
            list
        )
        findings: Counter[str] = Counter()
        for outcome in outcomes:
            if outcome.job is None:
                continue
            cid = outcome.job.collector_id or outcome.record.collector_id or "unknown"
            results = judge(outcome.job, self.thresholds_for(cid), now)
            stats = summary.collectors.setdefault(cid, {"jobs_read": 0, "findings": 0})
            stats["jobs_read"] += 1
            for result in results:
                if result.verdict is Verdict.BREACH:
                    findings[result.rule.value] += 1
                    stats["findings"] += 1
            by_collector[cid].append((outcome.job, outcome.record, results))
        summary.findings = dict(findings)
        if self.settings.repeat_after_minutes and self.settings.alert_mode is AlertMode.STATE:
            # Collectors with nothing new to judge may still owe a reminder.
            for cid in self.store.collectors_with_open_alarms():
                by_collector.setdefault(cid, [])

        recorded: set[str] = set()
        for cid, judged in by_collector.items():
            try:
                self._decide_collector(cid, judged, now, summary, dry_run)
            except Exception:
                # Leave this collector's jobs live: the next run re-judges them and the claims
                # already made keep that from repeating anything.
                logger.exception("recording decisions failed", extra={"collector": cid})
                continue
            recorded.add(cid)
        return recorded

    def _decide_collector(
        self,
        cid: str,
        judged: Sequence[tuple[JobLog, JobRecord, list[RuleResult]]],
        now: datetime,
        summary: RunSummary,
        dry_run: bool,
    ) -> None:
        for attempt in range(CLAIM_RETRIES):
            pending = self._plan_collector(cid, judged, now)
            if dry_run:
                if pending.entries:
                    self._emit(pending, now, summary, dry_run=True)
                return
            quiet_alarms = [
                (alarm, version)
                for rule, (alarm, version) in pending.alarms.items()
                if not any(c.key == alarm.key for c in pending.claims)
            ]
            try:
                for alarm, version in quiet_alarms:
                    self.store.save_alarm(alarm, version)
                if pending.entries:
                    self._emit(pending, now, summary, dry_run=False)
                return
            except ConflictError as conflict:
                # Another run recorded some of this first. Job claims it won are simply not
                # ours to send; alarms are re-read and re-judged on the next attempt.
                logger.info(
                    "decision conflict, re-planning",
                    extra={"collector": cid, "attempt": attempt, "keys": conflict.failed_keys},
                )
                self._note_claimed(conflict.failed_keys)
        raise ConflictError(f"could not record decisions for {cid} after {CLAIM_RETRIES} tries")

    def _note_claimed(self, keys: Iterable[tuple[str, str]]) -> None:
        """Remember the job rules these claim keys settle (other claims carry no job rule)."""
        for pk, sk in keys:
            if pk.startswith("JOB#") and sk.startswith("ALERTED#"):
                self._alerted_now.setdefault(pk[4:], set()).add(sk[8:])

    def _plan_collector(
        self,
        cid: str,
        judged: Sequence[tuple[JobLog, JobRecord, list[RuleResult]]],
        now: datetime,
    ) -> _Pending:
        pending = _Pending(collector_id=cid, collector_name=self._names.get(cid))
        ttl_days = self.settings.history_ttl_days
        every_job = self.settings.alert_mode is AlertMode.EVERY_JOB
        alarms = self.store.get_alarms(cid) if not every_job else {}
        touched: dict[str, tuple[RuleAlarm, int]] = {}

        for job, record, results in judged:
            for result in results:
                rule = result.rule
                finding = result.finding
                once_per_job = rule in JOB_EVENT_RULES or (every_job and rule in COLLECTOR_RULES)
                if once_per_job:
                    if result.verdict is not Verdict.BREACH or finding is None:
                        continue
                    # Claimed by an earlier run, or by an earlier alert of this run.
                    if rule.value in record.alerted or rule.value in self._alerted_now.get(
                        job.job_id, ()
                    ):
                        continue
                    pending.claims.append(
                        self.store.job_claim(job.job_id, rule.value, now, ttl_days)
                    )
                    pending.entries.append(
                        AlertEntry(
                            kind=AlertKind.JOB,
                            rule=rule.value,
                            severity=finding.severity,
                            message=finding.message,
                            observed=finding.observed,
                            limit=finding.limit,
                            job_ids=(job.job_id,),
                        )
                    )
                    pending.jobs[job.job_id] = job
                    pending.affected.add(job.job_id)
                    continue
                if rule not in COLLECTOR_RULES:
                    continue
                verdict = result.verdict
                # A live job only counts against a collector when it already breaches (fails
                # only grow); its "ok" waits until it settles, so a running job cannot resolve
                # an alarm it may still raise.
                if verdict is Verdict.PENDING or (
                    not job.settled and verdict is not Verdict.BREACH
                ):
                    continue
                alarm, version = touched.get(rule.value) or _current(alarms, cid, rule)
                # A job judged again with the same verdict (a live job still breaching) changes
                # nothing: no transition, no write.
                started = job.created or job.started or record.first_seen
                if _record_outcome(alarm, job.job_id, verdict, started, self.settings.alarm_window):
                    touched[rule.value] = (alarm, version)
                if verdict is Verdict.BREACH:
                    pending.jobs[job.job_id] = job
                    pending.affected.add(job.job_id)
                    alarm_findings = pending_findings(pending, rule)
                    alarm_findings[job.job_id] = result

        pending.alarms = touched
        for alarm, version in list(touched.values()):
            self._transition(alarm, version, now, pending)
        # Reminders for alarms that stayed open with nothing new to judge this run.
        if self.settings.repeat_after_minutes and not every_job:
            for rule_name, alarm in alarms.items():
                if rule_name not in touched:
                    self._remind(alarm, alarm.version, now, pending)
        return pending

    def _transition(self, alarm: RuleAlarm, version: int, now: datetime, pending: _Pending) -> None:
        rule = Rule(alarm.rule)
        breaches = [entry[0] for entry in alarm.outcomes if entry[1] == Verdict.BREACH]
        latest = alarm.outcomes[-1][1] if alarm.outcomes else None
        if len(breaches) >= self.settings.alarm_after:
            new_state = AlarmState.ALARM
        elif latest == Verdict.UNKNOWN:
            new_state = AlarmState.UNKNOWN
        else:
            new_state = AlarmState.OK
        alarm.version = version + 1
        alarm.state = new_state
        opened = new_state is AlarmState.ALARM and alarm.alarm_since is None
        closed = new_state is AlarmState.OK and alarm.alarm_since is not None
        results = pending_findings(pending, rule)
        if opened:
            alarm.alarm_since = now
            alarm.last_notified = now
            alarm.alarm_jobs = breaches[-ALERT_JOBS_SHOWN:]
            # Quote the most recent breaching job: it is the one the alarm's job list ends with.
            latest_breach = results.get(breaches[-1]) or _worst(results.values())
            finding = latest_breach.finding if latest_breach else None
            pending.entries.append(
                AlertEntry(
                    kind=AlertKind.ALARM,
                    rule=rule.value,
                    severity=finding.severity if finding else Severity.WARNING,
                    message=_alarm_message(finding, len(breaches), self.settings),
                    observed=finding.observed if finding else None,
                    limit=finding.limit if finding else None,
                    job_ids=tuple(breaches[-ALERT_JOBS_SHOWN:]),
                    since=now,
                )
            )
            pending.claims.append(self.store.alarm_claim(alarm, version))
        elif closed:
            since = alarm.alarm_since
            ok_jobs = [e[0] for e in alarm.outcomes if e[1] == Verdict.OK][-ALERT_JOBS_SHOWN:]
            pending.entries.append(
                AlertEntry(
                    kind=AlertKind.RESOLVED,
                    rule=rule.value,
                    # As severe as the alarm it ends: whoever was told of the alarm (an email
                    # filtered by severity, say) hears that it is over.
                    severity=RULE_SEVERITY[rule],
                    message=_resolved_message(rule, ok_jobs, self.settings.alarm_window),
                    observed=None,
                    limit=None,
                    job_ids=tuple(ok_jobs),
                    since=since,
                    duration_s=(now - since).total_seconds() if since else None,
                )
            )
            alarm.alarm_since = None
            alarm.alarm_jobs = []
            alarm.last_notified = now
            pending.claims.append(self.store.alarm_claim(alarm, version))
        elif new_state is AlarmState.ALARM:
            alarm.alarm_jobs = breaches[-ALERT_JOBS_SHOWN:]
            self._remind(alarm, version, now, pending, bump=False)

    def _remind(
        self, alarm: RuleAlarm, version: int, now: datetime, pending: _Pending, bump: bool = True
    ) -> None:
        minutes = self.settings.repeat_after_minutes
        if not minutes or alarm.alarm_since is None or alarm.state is not AlarmState.ALARM:
            return
        last = alarm.last_notified or alarm.alarm_since
        if now - last < timedelta(minutes=minutes):
            return
        if bump:
            alarm.version = version + 1
        alarm.last_notified = now
        pending.entries.append(
            AlertEntry(
                kind=AlertKind.REMINDER,
                rule=alarm.rule,
                severity=Severity.WARNING,
                message=f"{alarm.rule} still in alarm",
                observed=None,
                limit=None,
                job_ids=tuple(alarm.alarm_jobs),
                since=alarm.alarm_since,
                duration_s=(now - alarm.alarm_since).total_seconds(),
            )
        )
        pending.claims.append(self.store.alarm_claim(alarm, version))
        pending.alarms.setdefault(alarm.rule, (alarm, version))

    # ---- alerts -------------------------------------------------------------------------
    def _emit(self, pending: _Pending, now: datetime, summary: RunSummary, dry_run: bool) -> None:
        """Turn one collector's decisions into stored alerts (chunked to fit a transaction)."""
        silence = None
        if pending.collector_id and not dry_run:
            silence = self.store.active_silence(pending.collector_id, now)
        errors = {} if dry_run else self._error_details(pending)
        # Every entry was planned together with the claim that makes it once-only, so the two
        # lists run in step and split the same way into transaction-sized alerts.
        if len(pending.claims) != len(pending.entries):
            raise RuntimeError("every alert entry must be planned with exactly one claim")
        for start in range(0, len(pending.entries), MAX_CLAIMS_PER_ALERT):
            entries = pending.entries[start : start + MAX_CLAIMS_PER_ALERT]
            claims = pending.claims[start : start + MAX_CLAIMS_PER_ALERT]
            chunk_jobs = {j for e in entries for j in e.job_ids}
            jobs = [
                JobFacts.from_joblog(job, errors.get(job_id))
                for job_id, job in pending.jobs.items()
                if job_id in chunk_jobs
            ][:ALERT_JOBS_SHOWN]
            keys = sorted(f"{c.key[0]}|{c.key[1]}" for c in claims)
            digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]
            part = start // MAX_CLAIMS_PER_ALERT
            stamp = now.strftime("%Y%m%dT%H%M%S")
            alert = Alert(
                alert_id=f"{stamp}-{pending.collector_id or 'monitor'}-{digest}-{part}",
                collector_id=pending.collector_id,
                collector_name=pending.collector_name,
                entries=tuple(entries),
                jobs=tuple(jobs),
                affected_jobs=len(pending.affected) or len(chunk_jobs),
                created_at=now,
            )
            document = to_document(alert)
            if dry_run:
                summary.alerts_planned.append(document)
                continue
            status = AlertStatus.SUPPRESSED if silence else AlertStatus.PENDING
            record = AlertRecord(
                alert_id=alert.alert_id,
                status=status,
                created_at=now,
                collector_id=pending.collector_id,
                severity=alert.severity.value,
                subject=render_subject(document),
                document=document,
                suppressed_reason=f"silenced: {silence.reason}" if silence else None,
            )
            self.store.record_alert(
                record,
                claims,
                ttl_days=self.settings.history_ttl_days,
                lease_until=self._lease_until(now),
                owner=self.run_id,
            )
            self._note_claimed(c.key for c in claims)
            if silence:
                summary.alerts_suppressed += 1

    def _lease_until(self, now: datetime) -> datetime:
        # An entry is only re-published by another run once this run is surely over: in Lambda
        # that is its deadline (plus a margin); locally a fixed lease.
        if self.remaining_ms is not None:
            return now + timedelta(milliseconds=self.remaining_ms()) + timedelta(seconds=60)
        return now + LOCAL_LEASE

    def _error_details(self, pending: _Pending) -> dict[str, ErrorSummary]:
        details: dict[str, ErrorSummary] = {}
        wanted = [
            job_id
            for e in pending.entries
            if e.kind in (AlertKind.ALARM, AlertKind.JOB)
            for job_id in e.job_ids
        ]
        for job_id in list(dict.fromkeys(wanted))[:ERROR_DETAIL_JOBS]:
            try:
                errors = self.client.get_errors(job_id, limit=50)
            except BrightDataError as exc:
                logger.info("no error details", extra={"job_id": job_id, "error": _describe(exc)})
                continue
            details[job_id] = summarize_errors(errors)
        return details

    def deliver_outbox(self, summary: RunSummary, own_only: bool = False) -> None:
        """Publish what is owed: this run's alerts, and earlier runs' whose lease ran out."""
        if self.publisher is None:
            return
        now = self.clock()
        for entry in self.store.pending_outbox(now, self.run_id):
            if own_only and entry.get("owner") != self.run_id:
                continue
            if not self.store.take_lease(entry, self.run_id, self._lease_until(now), now):
                continue
            record = self.store.get_alert(entry["alert_id"])
            if record is None:
                continue
            try:
                message_id = self.publisher.publish(record.document)
            except Exception as exc:
                summary.alerts_failed += 1
                logger.warning(
                    "publish failed; the alert stays in the outbox for the next run",
                    extra={"alert_id": record.alert_id, "error": type(exc).__name__},
                )
                self.store.release_lease(entry, self.run_id)
                continue
            self.store.mark_sent(entry, message_id, self.clock())
            summary.alerts_sent += 1

    # ---- persistence --------------------------------------------------------------------
    def _persist(
        self,
        outcomes: Sequence[ReadOutcome],
        recorded: set[str],
        now: datetime,
        summary: RunSummary,
    ) -> None:
        changed: list[JobRecord] = []
        for outcome in outcomes:
            record = outcome.record
            if isinstance(outcome.error, NotFound):
                record.expired = True
                summary.jobs_expired += 1
                changed.append(record)
                continue
            job = outcome.job
            if job is None:
                continue
            cid = job.collector_id or record.collector_id or "unknown"
            new_alerts = self._alerted_now.get(record.job_id, set())
            fingerprint = job.fingerprint()
            may_settle = job.settled and cid in recorded
            if (
                fingerprint == record.fingerprint
                and not new_alerts
                and may_settle == record.settled
            ):
                continue  # unchanged: no write
            record.fingerprint = fingerprint
            record.status = job.status.value
            record.collector_id = record.collector_id or job.collector_id
            record.log = job.to_dict()
            record.last_read = now
            record.alerted = sorted(set(record.alerted) | new_alerts)
            if may_settle:
                record.settled = True
                summary.jobs_settled += 1
            changed.append(record)
        if changed:
            self.store.put_jobs(changed)


def pending_findings(pending: _Pending, rule: Rule) -> dict[str, RuleResult]:
    """The breaching results of one rule in this plan, by job id."""
    return pending.findings.setdefault(rule.value, {})


def _current(alarms: dict[str, RuleAlarm], collector_id: str, rule: Rule) -> tuple[RuleAlarm, int]:
    alarm = alarms.get(rule.value)
    if alarm is None:
        alarm = alarms[rule.value] = RuleAlarm(collector_id=collector_id, rule=rule.value)
    return alarm, alarm.version


def _record_outcome(
    alarm: RuleAlarm, job_id: str, verdict: Verdict, created: datetime, window: int
) -> bool:
    """Set the job's verdict in the alarm's window: the `window` most recently created jobs.
    Ordering by creation (not by when a job was read) keeps an older job that is still running
    from pushing newer verdicts out each time it is read again. False when nothing changed."""
    before = alarm.outcomes
    entries = [e for e in before if e[0] != job_id]
    entries.append([job_id, verdict.value, iso(created)])
    entries.sort(key=lambda e: (e[2] if len(e) > 2 else "", e[0]))
    alarm.outcomes = entries[-window:]
    return alarm.outcomes != before


def _worst(results: Iterable[RuleResult]) -> RuleResult | None:
    ranked = [r for r in results if r.finding is not None]
    if not ranked:
        return None
    return max(ranked, key=lambda r: r.finding.severity.rank if r.finding else 0)


def _alarm_message(finding: Any, breaches: int, settings: Settings) -> str:
    base = finding.message if finding is not None else "threshold breached"
    if settings.alarm_window > 1:
        return f"{base} ({breaches} of the last {settings.alarm_window} jobs breached)"
    return base


_RULE_SUBJECTS = {
    Rule.SUCCESS_RATE_BELOW_MIN: "success rate",
    Rule.FAILS_ABOVE_MAX: "failed inputs",
    Rule.FAIL_RATIO_ABOVE_MAX: "fail ratio",
    Rule.OUTPUT_BELOW_MIN: "output lines",
}


def _resolved_message(rule: Rule, ok_jobs: Sequence[str], window: int) -> str:
    what = _RULE_SUBJECTS.get(rule, rule.value)
    if window > 1:
        return f"{what} back within its limit: fewer breaches than needed in the last {window} jobs"
    latest = f" (latest job {ok_jobs[-1]})" if ok_jobs else ""
    return f"{what} back within its limit{latest}"


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


def _outcome(record: JobRecord, future: Future[dict[str, Any]]) -> ReadOutcome:
    try:
        payload = future.result()
    except BrightDataError as exc:
        return ReadOutcome(record, error=exc)
    try:
        return ReadOutcome(record, job=parse_job_log(payload, job_id=record.job_id))
    except JobLogError as exc:
        logger.warning("unreadable job log", extra={"job_id": record.job_id, "error": str(exc)})
        return ReadOutcome(record, error=exc)


@dataclass(frozen=True)
class _ListingPlan:
    """Why and how one collector's jobs are listed this run."""

    collector_id: str
    last_run: str
    full_pass: bool  # look up every listed id (every FULL_LIST_INTERVAL)
    full_at: str | None  # when the last full pass was
    seen_before: datetime | None  # jobs queued before this were in an earlier listing


def _listing_plan(
    collector: dict[str, Any], previous: dict[str, Any] | None, now: datetime
) -> _ListingPlan | None:
    """None when the collector need not be listed: its last_run (when the API says when it last
    started a job) is unchanged and a full pass is not due. Without last_run it is listed every
    run."""
    last_run = str(collector.get("last_run") or "")
    previous = previous or {}
    listed_at = parse_iso(previous.get("listed_at"))
    full_at = previous.get("full_at")
    full_due = full_at is None or now - (parse_iso(full_at) or now) >= FULL_LIST_INTERVAL
    if last_run and previous.get("last_run") == last_run and not full_due:
        return None
    seen_before = None if full_due or listed_at is None else listed_at - LISTING_OVERLAP
    return _ListingPlan(collector["id"], last_run, full_due, full_at, seen_before)


def _listed_time(job: dict[str, Any]) -> datetime | None:
    """When a listed job was queued (or created), if the listing says so readably."""
    for key in ("queued", "created"):
        value = job.get(key)
        if isinstance(value, str):
            try:
                moment = parse_iso(value)
            except ValueError:
                return None
            if moment is not None:
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _is_unreachable(error: object) -> bool:
    return isinstance(error, Transient | RateLimited)


def _judge_health(auth_failed: bool, failures: int, attempts: int) -> HealthState:
    if auth_failed:
        return HealthState.TOKEN_REJECTED
    if attempts and failures / attempts > UNREACHABLE_FAILURE_SHARE:
        return HealthState.API_UNREACHABLE
    return HealthState.HEALTHY


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["Monitor", "RunSummary", "summarize_errors"]
