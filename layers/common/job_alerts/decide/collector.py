"""Decide stage for one collector: prior alarm state + judged jobs + now -> decisions (alert
entries, each with the claim that makes it once-only, and alarm windows to save). M-of-N alarms,
reminders, resolve, job events, unreadable jobs, collector-wide alarms, rerun outcomes. Pure: it
reads no clock, calls nothing, and copies the alarms it is given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from job_alerts.alerts import AlertEntry, AlertKind
from job_alerts.config import AlertMode, Settings
from job_alerts.decide.judging import JudgedJob
from job_alerts.joblog import JobLog
from job_alerts.models import (
    AlarmClaim,
    AlarmState,
    Claim,
    JobRecord,
    JobRuleClaim,
    RuleAlarm,
    Silence,
)
from job_alerts.remediation import rerun_settled
from job_alerts.rules import (
    ACTIVITY_RULES,
    COLLECTOR_RULES,
    JOB_EVENT_RULES,
    RULE_SEVERITY,
    Rule,
    RuleResult,
    Severity,
    Verdict,
    spec_for,
)
from job_alerts.text import moment
from job_alerts.timeutil import iso

ALERT_JOBS_SHOWN = 20
# A job whose answers cannot be judged this many reads in a row is reported (once).
UNREADABLE_AFTER = 3
JOB_UNREADABLE = "job_unreadable"
JOB_READABLE_AGAIN = "job_readable_again"


# ---- decisions -----------------------------------------------------------------------------


@dataclass
class Decision:
    """What one message (per collector, or the monitor's own) will say, and the claims that make
    it once-only: `entries[i]` is recorded together with `claims[i]`."""

    collector_id: str | None
    collector_name: str | None = None
    entries: list[AlertEntry] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    jobs: dict[str, JobLog] = field(default_factory=dict)
    affected: set[str] = field(default_factory=set)
    # Alarms whose window of outcomes changed without anything to tell: saved on their own.
    quiet_alarms: list[AlarmClaim] = field(default_factory=list)

    def add(self, entry: AlertEntry, claim: Claim) -> None:
        self.entries.append(entry)
        self.claims.append(claim)


def decide_collector(
    collector_id: str,
    collector_name: str | None,
    judged: Sequence[JudgedJob],
    alarms: Mapping[str, RuleAlarm],
    settings: Settings,
    now: datetime,
    *,
    claimed: Mapping[str, set[str]] | None = None,
    unreadable: Sequence[UnreadableJob] = (),
    activity: Sequence[RuleResult] = (),
    silence: Silence | None = None,
) -> Decision:
    """One collector's decisions. `alarms` is its stored alarm state by rule (in every_job mode
    only the collector-wide rules keep one); `claimed` the job rules already claimed during this
    run (job id -> rules), on top of what each job's record says was alerted before;
    `unreadable` its jobs whose answer could not be judged this run; `activity` the results of
    its collector-wide rules (judge_activity); `silence` the collector's silence in force now,
    if any (an alarm whose opening a silence hid is announced once none is)."""
    decision = Decision(collector_id, collector_name)
    every_job = settings.alert_mode is AlertMode.EVERY_JOB
    current = {
        rule: alarm.copy()
        for rule, alarm in alarms.items()
        if not every_job or rule in ACTIVITY_RULES
    }
    window = _Window(collector_id, current)
    claimed = claimed or {}

    for gone in unreadable:
        _unreadable_event(decision, gone, claimed.get(gone.record.job_id, set()), settings, now)
    for item in judged:
        already = set(item.record.alerted) | claimed.get(item.job.job_id, set())
        if JOB_UNREADABLE in item.record.alerted:
            _readable_again(decision, item, already, settings, now)
        _rerun_outcome(decision, item, already, settings, now)
        for result in item.results:
            if result.rule in JOB_EVENT_RULES or (every_job and result.rule in COLLECTOR_RULES):
                _job_event(decision, item.job, result, already, settings, now)
            elif result.rule in COLLECTOR_RULES:
                window.record(decision, item, result, settings)

    for alarm, version in window.touched.values():
        _transition(decision, alarm, version, window.breaching(alarm.rule), settings, now)
    for result in activity:
        _activity_transition(decision, window, result, now)
    _announce_hidden(decision, window, silence, now)
    # Reminders for alarms that stayed open with nothing new to judge this run.
    for rule_name, alarm in current.items():
        if rule_name not in window.touched:
            _remind(decision, alarm, alarm.version, settings, now, bump=True)
    claimed_alarms = {
        (c.alarm.collector_id, c.alarm.rule) for c in decision.claims if isinstance(c, AlarmClaim)
    }
    decision.quiet_alarms = [
        AlarmClaim(alarm, version)
        for alarm, version in window.touched.values()
        if (alarm.collector_id, alarm.rule) not in claimed_alarms
    ]
    return decision


class _Window:
    """The collector's alarms this decision works on (copies), and which of them a job's
    outcome moved."""

    def __init__(self, collector_id: str, current: dict[str, RuleAlarm]) -> None:
        self.collector_id = collector_id
        self.current = current
        self.touched: dict[str, tuple[RuleAlarm, int]] = {}
        self._breaching: dict[str, dict[str, RuleResult]] = {}

    def alarm(self, rule: Rule) -> tuple[RuleAlarm, int]:
        return self.touched.get(rule.value) or _current(self.current, self.collector_id, rule)

    def breaching(self, rule: str) -> dict[str, RuleResult]:
        return self._breaching.get(rule, {})

    def record(
        self, decision: Decision, item: JudgedJob, result: RuleResult, settings: Settings
    ) -> None:
        job, record = item.job, item.record
        if not _counts_for_collector(job, result.verdict):
            return
        alarm, version = self.alarm(result.rule)
        # A job judged again with the same verdict (a live job still breaching) changes
        # nothing: no transition, no write.
        created = job.created or job.started or record.first_seen
        if _record_outcome(alarm, job.job_id, result.verdict, created, settings.alarm_window):
            self.touched[result.rule.value] = (alarm, version)
        if result.verdict is Verdict.BREACH:
            decision.jobs[job.job_id] = job
            decision.affected.add(job.job_id)
            self._breaching.setdefault(result.rule.value, {})[job.job_id] = result


def _activity_transition(
    decision: Decision, window: _Window, result: RuleResult, now: datetime
) -> None:
    """A collector-wide rule opens its alarm on a breach and resolves it when the collector is
    fine again, in the words of its spec (or of the OK result's finding, which says why it
    ended when the collector is no longer watched); no verdict (too little history) changes
    nothing. No window: one run's view of the collector is the whole evidence."""
    alarm, version = window.alarm(result.rule)
    opened = alarm.alarm_since is not None
    finding = result.finding
    if result.verdict is Verdict.BREACH and finding is not None and not opened:
        alarm.version, alarm.state = version + 1, AlarmState.ALARM
        alarm.alarm_since = alarm.last_notified = now
        entry = AlertEntry(
            kind=AlertKind.ALARM,
            rule=result.rule.value,
            severity=finding.severity,
            message=finding.message,
            observed=finding.observed,
            limit=finding.limit,
            since=now,
        )
    elif result.verdict is Verdict.OK and opened and alarm.alarm_since is not None:
        since = alarm.alarm_since
        spec = spec_for(result.rule)
        ended = finding.message if finding is not None else spec.resolved
        alarm.version, alarm.state = version + 1, AlarmState.OK
        alarm.alarm_since, alarm.last_notified, alarm.alarm_jobs = None, now, []
        entry = AlertEntry(
            kind=AlertKind.RESOLVED,
            rule=result.rule.value,
            severity=RULE_SEVERITY[result.rule],
            message=ended or f"{spec.subject} back within its limit",
            since=since,
            duration_s=(now - since).total_seconds(),
        )
    else:
        return
    window.touched[result.rule.value] = (alarm, version)
    decision.add(entry, AlarmClaim(alarm, version))


def _counts_for_collector(job: JobLog, verdict: Verdict) -> bool:
    # A live job only counts against a collector when it already breaches (fails only grow);
    # its "ok" waits until it settles, so a running job cannot resolve an alarm it may still
    # raise.
    if verdict is Verdict.PENDING:
        return False
    return job.settled or verdict is Verdict.BREACH


def _job_event(
    decision: Decision,
    job: JobLog,
    result: RuleResult,
    already: set[str],
    settings: Settings,
    now: datetime,
) -> None:
    finding = result.finding
    if result.verdict is not Verdict.BREACH or finding is None:
        return
    if result.rule.value in already:
        return  # claimed by an earlier run, or by an earlier alert of this run
    decision.add(
        AlertEntry(
            kind=AlertKind.JOB,
            rule=result.rule.value,
            severity=finding.severity,
            message=with_notes(finding.message, job),
            observed=finding.observed,
            limit=finding.limit,
            job_ids=(job.job_id,),
        ),
        JobRuleClaim(job.job_id, result.rule.value, now, settings.history_ttl_days),
    )
    decision.jobs[job.job_id] = job
    decision.affected.add(job.job_id)


@dataclass(frozen=True)
class UnreadableJob:
    """A job whose answer could not be judged this run: why, what came back, and how many reads
    in a row (this one included) could not be judged."""

    record: JobRecord
    reason: str
    sample: str
    reads_in_a_row: int
    # Set when the read failed (5xx, timeout, 429...) rather than answered what cannot be
    # judged: the error's own (token-free) message.
    last_error: str | None = None


def _unreadable_event(
    decision: Decision, gone: UnreadableJob, claimed: set[str], settings: Settings, now: datetime
) -> None:
    record = gone.record
    if gone.reads_in_a_row < UNREADABLE_AFTER:
        return
    if JOB_UNREADABLE in record.alerted or JOB_UNREADABLE in claimed:
        return
    if gone.last_error is not None:
        what = (
            f"could not be read on {gone.reads_in_a_row} reads in a row while other calls "
            f"succeeded ({gone.reason}); last error: {gone.last_error}"
        )
    else:
        sample = f"; it answered: {gone.sample}" if gone.sample else ""
        what = (
            f"could not be judged on {gone.reads_in_a_row} reads in a row ({gone.reason}){sample}"
        )
    decision.add(
        AlertEntry(
            kind=AlertKind.JOB,
            rule=JOB_UNREADABLE,
            severity=Severity.WARNING,
            message=(
                f"job {record.job_id} of collector {record.collector_id or 'unknown'} {what}; "
                "it stays tracked and is read again every run"
            ),
            observed=gone.reason,
            job_ids=(record.job_id,),
        ),
        JobRuleClaim(record.job_id, JOB_UNREADABLE, now, settings.history_ttl_days),
    )
    decision.affected.add(record.job_id)


def _readable_again(
    decision: Decision, item: JudgedJob, already: set[str], settings: Settings, now: datetime
) -> None:
    if JOB_READABLE_AGAIN in already:
        return
    job_id = item.job.job_id
    decision.add(
        AlertEntry(
            kind=AlertKind.RESOLVED,
            rule=JOB_UNREADABLE,
            severity=Severity.WARNING,
            message=f"job {job_id} can be judged again (status {item.job.status.value})",
            job_ids=(job_id,),
        ),
        JobRuleClaim(job_id, JOB_READABLE_AGAIN, now, settings.history_ttl_days),
    )
    decision.jobs[job_id] = item.job


def _rerun_outcome(
    decision: Decision, item: JudgedJob, already: set[str], settings: Settings, now: datetime
) -> None:
    """What a rerun job recovered, told once when it settles (nothing for any other job)."""
    told = rerun_settled(item.record, item.job, already, now, settings)
    if told is None:
        return
    decision.add(*told)
    decision.jobs[item.job.job_id] = item.job


def with_notes(message: str, job: JobLog) -> str:
    """The message, plus what could not be read of the job's answer (an odd field, a success
    rate that disagreed with the counts, an unknown status), so the alert names it."""
    if not job.notes:
        return message
    return f"{message} (note: {'; '.join(job.notes[:3])})"


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


def _transition(
    decision: Decision,
    alarm: RuleAlarm,
    version: int,
    results: Mapping[str, RuleResult],
    settings: Settings,
    now: datetime,
) -> None:
    rule = Rule(alarm.rule)
    breaches = [entry[0] for entry in alarm.outcomes if entry[1] == Verdict.BREACH]
    latest = alarm.outcomes[-1][1] if alarm.outcomes else None
    if len(breaches) >= settings.alarm_after:
        new_state = AlarmState.ALARM
    elif latest == Verdict.UNKNOWN:
        new_state = AlarmState.UNKNOWN
    else:
        new_state = AlarmState.OK
    alarm.version = version + 1
    alarm.state = new_state
    opened = new_state is AlarmState.ALARM and alarm.alarm_since is None
    closed = new_state is AlarmState.OK and alarm.alarm_since is not None
    if opened:
        alarm.alarm_since = now
        alarm.last_notified = now
        alarm.alarm_jobs = breaches[-ALERT_JOBS_SHOWN:]
        decision.add(
            _alarm_entry(rule, breaches, results, settings, now), AlarmClaim(alarm, version)
        )
    elif closed:
        since = alarm.alarm_since
        ok_jobs = [e[0] for e in alarm.outcomes if e[1] == Verdict.OK][-ALERT_JOBS_SHOWN:]
        entry = AlertEntry(
            kind=AlertKind.RESOLVED,
            rule=rule.value,
            # As severe as the alarm it ends: whoever was told of the alarm (an email filtered
            # by severity, say) hears that it is over.
            severity=RULE_SEVERITY[rule],
            message=_resolved_message(rule, ok_jobs, settings.alarm_window) + hidden_note(alarm),
            job_ids=tuple(ok_jobs),
            since=since,
            duration_s=(now - since).total_seconds() if since else None,
        )
        alarm.alarm_since = None
        alarm.alarm_jobs = []
        alarm.last_notified = now
        decision.add(entry, AlarmClaim(alarm, version))
    elif new_state is AlarmState.ALARM:
        alarm.alarm_jobs = breaches[-ALERT_JOBS_SHOWN:]
        _remind(decision, alarm, version, settings, now, bump=False)


def _alarm_entry(
    rule: Rule,
    breaches: Sequence[str],
    results: Mapping[str, RuleResult],
    settings: Settings,
    now: datetime,
) -> AlertEntry:
    # Quote the most recent breaching job: it is the one the alarm's job list ends with.
    latest_breach = results.get(breaches[-1]) or _worst(results.values())
    finding = latest_breach.finding if latest_breach else None
    base = finding.message if finding is not None else "threshold breached"
    if settings.alarm_window > 1:
        message = f"{base} ({len(breaches)} of the last {settings.alarm_window} jobs breached)"
    else:
        message = base
    return AlertEntry(
        kind=AlertKind.ALARM,
        rule=rule.value,
        severity=finding.severity if finding else Severity.WARNING,
        message=message,
        observed=finding.observed if finding else None,
        limit=finding.limit if finding else None,
        job_ids=tuple(breaches[-ALERT_JOBS_SHOWN:]),
        since=now,
    )


def _remind(
    decision: Decision,
    alarm: RuleAlarm,
    version: int,
    settings: Settings,
    now: datetime,
    *,
    bump: bool,
) -> None:
    minutes = settings.repeat_after_minutes
    if not minutes or alarm.alarm_since is None or alarm.state is not AlarmState.ALARM:
        return
    if alarm.hidden_by is not None:
        return  # never announced: it is, once its silence ends (_announce_hidden), not reminded
    last = alarm.last_notified or alarm.alarm_since
    if now - last < timedelta(minutes=minutes):
        return
    if bump:
        alarm.version = version + 1
    alarm.last_notified = now
    # As severe as the alarm, like its RESOLVED: whoever was told of the alarm (an email filtered
    # by severity, say) is reminded of it. An alarm stored under a rule the catalogue no longer
    # has keeps the stored id and a warning.
    if alarm.rule in RULE_SEVERITY:
        rule = Rule(alarm.rule)
        severity, what = RULE_SEVERITY[rule], spec_for(rule).subject
    else:
        severity, what = Severity.WARNING, alarm.rule
    decision.add(
        AlertEntry(
            kind=AlertKind.REMINDER,
            rule=alarm.rule,
            severity=severity,
            message=f"{what} still in alarm",
            job_ids=tuple(alarm.alarm_jobs),
            since=alarm.alarm_since,
            duration_s=(now - alarm.alarm_since).total_seconds(),
        ),
        AlarmClaim(alarm, version),
    )


def _worst(results: Iterable[RuleResult]) -> RuleResult | None:
    ranked = [r for r in results if r.finding is not None]
    if not ranked:
        return None
    return max(ranked, key=lambda r: r.finding.severity.rank if r.finding else 0)


def _resolved_message(rule: Rule, ok_jobs: Sequence[str], window: int) -> str:
    what = spec_for(rule).subject
    if window > 1:
        return f"{what} back within its limit: fewer breaches than needed in the last {window} jobs"
    latest = f" (latest job {ok_jobs[-1]})" if ok_jobs else ""
    return f"{what} back within its limit{latest}"


def _announce_hidden(
    decision: Decision, window: _Window, silence: Silence | None, now: datetime
) -> None:
    """Announce, once, each alarm still open whose opening a silence hid, now that no silence is
    in force: the first message about it is its ALARM, not a reminder or a RESOLVED. An alarm
    that closed has nothing left to announce."""
    for alarm, _ in window.touched.values():
        if alarm.alarm_since is None:
            alarm.hidden_by = None
    if silence is not None:
        return
    claimed = {c.alarm.rule for c in decision.claims if isinstance(c, AlarmClaim)}
    for rule_name in list(window.current):
        if rule_name in claimed or rule_name not in RULE_SEVERITY:
            continue
        rule = Rule(rule_name)
        alarm, version = window.alarm(rule)
        hidden = alarm.hidden_by
        if hidden is None or alarm.alarm_since is None or alarm.state is not AlarmState.ALARM:
            continue
        if rule_name not in window.touched:
            alarm.version = version + 1
            window.touched[rule_name] = (alarm, version)
        alarm.hidden_by = None
        alarm.last_notified = now
        reason = f" ({hidden.reason})" if hidden.reason else ""
        who = f" by {hidden.created_by}" if hidden.created_by else ""
        decision.add(
            AlertEntry(
                kind=AlertKind.ALARM,
                rule=rule_name,
                severity=RULE_SEVERITY[rule],
                message=(
                    f"{spec_for(rule).subject} in ALARM since {moment(alarm.alarm_since)}, "
                    f"opened while the collector was silenced{who}{reason} until "
                    f"{moment(hidden.until)}; still open"
                ),
                job_ids=tuple(alarm.alarm_jobs),
                since=alarm.alarm_since,
                duration_s=(now - alarm.alarm_since).total_seconds(),
            ),
            AlarmClaim(alarm, version),
        )


def hidden_note(alarm: RuleAlarm) -> str:
    """For the RESOLVED of an alarm never announced (it opened under a silence that has ended
    since): when it opened and under which silence, so the message is not a riddle."""
    hidden = alarm.hidden_by
    if hidden is None or alarm.alarm_since is None:
        return ""
    return (
        f"; it opened at {moment(alarm.alarm_since)} while the collector was silenced until "
        f"{moment(hidden.until)}, so this is the first message about it"
    )
