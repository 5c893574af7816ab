"""The rule catalogue: one spec per rule (scope, severity, threshold, words, advice) beside its
pure judge, which weighs one JobLog (or, for a collector-wide rule, the collector's history)
against its limit at a given time. No I/O; the monitor decides what to do with the verdicts.
Thresholds, alert wording and subjects are derived from here; the vocabulary is in `rulespec`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

from job_alerts.history import EMPTY_HISTORY, History
from job_alerts.joblog import JobLog, JobStatus
from job_alerts.rulekit import RATE_TOLERANCE, breach, minutes_of, not_breached
from job_alerts.rules_history import (
    COLLECTOR_SILENT,
    OUTPUT_BELOW_BASELINE,
)
from job_alerts.rules_listing import COLLECTOR_NOT_FOUND, COLLECTOR_UNLISTED
from job_alerts.rulespec import (
    ActivityJudge,
    Direction,
    Finding,
    Judge,
    Rule,
    RuleResult,
    RuleSpec,
    Scope,
    Severity,
    ThresholdSpec,
    Unit,
    Verdict,
    max_severity,
)
from job_alerts.text import count, duration, percent

if TYPE_CHECKING:
    # Only a type here: thresholds derives its fields from this catalogue, so importing it at
    # run time would be circular.
    from job_alerts.thresholds import Thresholds

__all__ = [
    "ACTIVITY_RULES",
    "COLLECTOR_RULES",
    "JOB_EVENT_RULES",
    "REMEDIATION_SPECS",
    "RULES",
    "RULE_SEVERITY",
    "THRESHOLD_SPECS",
    "ActivityJudge",
    "Direction",
    "Finding",
    "Judge",
    "Rule",
    "RuleResult",
    "RuleSpec",
    "Scope",
    "Severity",
    "ThresholdSpec",
    "Unit",
    "Verdict",
    "evaluate",
    "judge",
    "judge_collector",
    "max_severity",
    "spec_for",
    "spec_named",
]


def _stuck_for(job: JobLog, rule: Rule, doing: str, span: timedelta, limit: float) -> RuleResult:
    """A job that has been `doing` (queued, running, paused) for `span`: over `limit` minutes
    it breaches; both stuck rules end this way."""
    minutes = minutes_of(span)
    if minutes <= limit:
        return RuleResult(rule, Verdict.OK)
    allowed = timedelta(minutes=limit)
    message = (
        f"{doing} for {duration(span, beside=allowed)}, longer than the allowed {duration(allowed)}"
    )
    return breach(job, rule, minutes, limit, message)


# A hung job has not stopped: rerunning it would start a duplicate, so the advice differs.
def _stuck_advice(state: str, threshold_key: str) -> str:
    return (
        f"The job is still {state}: check its progress in the Bright Data control panel and "
        "cancel it there if it is hung (a rerun now would start a duplicate); if this collector "
        f"is normally this slow, raise `{threshold_key}` for it with a per-collector override."
    )


# --- job_failed ------------------------------------------------------------------------------


def _job_failed(
    job: JobLog, _limit: None, _now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.JOB_FAILED
    if job.status is JobStatus.FAILED:
        return breach(job, rule, job.status.value, None, "job ended with status failed")
    if job.settled and job.status is JobStatus.UNKNOWN:
        return RuleResult(rule, Verdict.UNKNOWN)
    return not_breached(job, rule)


_JOB_FAILED = RuleSpec(
    Rule.JOB_FAILED, Scope.JOB_EVENT, Severity.CRITICAL, subject="job failed", judge=_job_failed
)


# --- job_cancelled ---------------------------------------------------------------------------


def _job_cancelled(
    job: JobLog, _limit: None, _now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.JOB_CANCELLED
    if job.status is JobStatus.CANCELLED:
        raw = (job.raw_status or job.status.value).strip()
        return breach(job, rule, job.status.value, None, f"job was {raw.lower()}")
    if job.settled and job.status is JobStatus.UNKNOWN:
        return RuleResult(rule, Verdict.UNKNOWN)
    return not_breached(job, rule)


_JOB_CANCELLED = RuleSpec(
    Rule.JOB_CANCELLED,
    Scope.JOB_EVENT,
    Severity.WARNING,
    subject="job cancelled",
    judge=_job_cancelled,
)


# --- success_rate_below_min ------------------------------------------------------------------


def _success_rate_below_min(
    job: JobLog, minimum: float, _now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.SUCCESS_RATE_BELOW_MIN
    # A live job's rate is provisional: early inputs fail and retry.
    if not job.settled:
        return RuleResult(rule, Verdict.PENDING)
    rate = job.success_rate
    if rate is None:
        return RuleResult(rule, Verdict.UNKNOWN)
    if rate >= minimum - RATE_TOLERANCE:
        return RuleResult(rule, Verdict.OK)
    shown = percent(rate, beside=minimum)
    message = f"success rate {shown} is below the minimum {percent(minimum)}"
    if job.success is not None and job.inputs is not None:
        message += f" ({count(job.success)} of {count(job.inputs, 'input')} succeeded)"
    return breach(job, rule, rate, minimum, message)


_SUCCESS_RATE_BELOW_MIN = RuleSpec(
    Rule.SUCCESS_RATE_BELOW_MIN,
    Scope.COLLECTOR,
    Severity.CRITICAL,
    subject="success rate",
    judge=_success_rate_below_min,
    threshold=ThresholdSpec(
        "min_success_rate", "MIN_SUCCESS_RATE", "MinSuccessRate", 0.9, Unit.RATE, Direction.MIN
    ),
)


# --- fails_above_max -------------------------------------------------------------------------


def _fails_above_max(
    job: JobLog, maximum: int, _now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.FAILS_ABOVE_MAX
    if job.fails is None:
        return RuleResult(rule, Verdict.UNKNOWN if job.settled else Verdict.PENDING)
    # Failures only ever add up, so a live job that is already over the limit is a breach.
    if job.fails > maximum:
        message = f"{count(job.fails, 'input')} failed, more than the allowed {count(maximum)}"
        return breach(job, rule, job.fails, maximum, message)
    return not_breached(job, rule)


_FAILS_ABOVE_MAX = RuleSpec(
    Rule.FAILS_ABOVE_MAX,
    Scope.COLLECTOR,
    Severity.WARNING,
    subject="failed inputs",
    judge=_fails_above_max,
    threshold=ThresholdSpec(
        "max_fails", "MAX_FAILS", "MaxFails", None, Unit.COUNT, Direction.MAX, optional=True
    ),
)


# --- fail_ratio_above_max --------------------------------------------------------------------


def _fail_ratio_above_max(
    job: JobLog, maximum: float, _now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.FAIL_RATIO_ABOVE_MAX
    ratio = job.fail_ratio
    if ratio is None or job.fails is None or job.inputs is None:
        return RuleResult(rule, Verdict.UNKNOWN if job.settled else Verdict.PENDING)
    if ratio > maximum + RATE_TOLERANCE:
        message = (
            f"fail ratio {percent(ratio, beside=maximum)} is above the maximum {percent(maximum)}"
            f" ({count(job.fails)} of {count(job.inputs, 'input')} failed)"
        )
        return breach(job, rule, ratio, maximum, message)
    return not_breached(job, rule)


_FAIL_RATIO_ABOVE_MAX = RuleSpec(
    Rule.FAIL_RATIO_ABOVE_MAX,
    Scope.COLLECTOR,
    Severity.WARNING,
    subject="fail ratio",
    judge=_fail_ratio_above_max,
    threshold=ThresholdSpec(
        "max_fail_ratio",
        "MAX_FAIL_RATIO",
        "MaxFailRatio",
        None,
        Unit.RATE,
        Direction.MAX,
        optional=True,
    ),
)


# --- stuck_queued ----------------------------------------------------------------------------


def _stuck_queued(
    job: JobLog, limit: float, now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.STUCK_QUEUED
    waiting = not job.settled and job.started is None and job.status is not JobStatus.RUNNING
    if not waiting:
        return RuleResult(rule, Verdict.OK)
    if job.created is None:
        return RuleResult(rule, Verdict.UNKNOWN)
    return _stuck_for(job, rule, "queued", now - job.created, limit)


_STUCK_QUEUED = RuleSpec(
    Rule.STUCK_QUEUED,
    Scope.JOB_EVENT,
    Severity.WARNING,
    subject="queued",
    judge=_stuck_queued,
    threshold=ThresholdSpec(
        "max_queue_minutes", "MAX_QUEUE_MINUTES", "MaxQueueMinutes", 60, Unit.MINUTES, Direction.MAX
    ),
    advice=_stuck_advice("queued", "max_queue_minutes"),
)


# --- stuck_running ---------------------------------------------------------------------------


def _stuck_running(
    job: JobLog, limit: float, now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.STUCK_RUNNING
    if job.settled or job.started is None:
        return RuleResult(rule, Verdict.OK)
    # A job left paused is not progressing either; say so rather than call it running.
    doing = "paused" if job.status is JobStatus.PAUSED else "running"
    return _stuck_for(job, rule, doing, now - job.started, limit)


_STUCK_RUNNING = RuleSpec(
    Rule.STUCK_RUNNING,
    Scope.JOB_EVENT,
    Severity.WARNING,
    subject="running",
    judge=_stuck_running,
    threshold=ThresholdSpec(
        "max_run_minutes", "MAX_RUN_MINUTES", "MaxRunMinutes", 240, Unit.MINUTES, Direction.MAX
    ),
    advice=_stuck_advice("running", "max_run_minutes"),
)


# --- output_below_min ------------------------------------------------------------------------


def _output_below_min(
    job: JobLog, minimum: int, _now: datetime, _history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.OUTPUT_BELOW_MIN
    if not job.settled:
        return RuleResult(rule, Verdict.PENDING)
    if job.inputs is None or job.lines is None:
        return RuleResult(rule, Verdict.UNKNOWN)
    # No inputs, no output expected.
    if job.inputs == 0 or job.lines >= minimum:
        return RuleResult(rule, Verdict.OK)
    message = (
        f"{count(job.lines, 'output line')} from {count(job.inputs, 'input')}, "
        f"fewer than the minimum {count(minimum)}"
    )
    return breach(job, rule, job.lines, minimum, message)


_OUTPUT_BELOW_MIN = RuleSpec(
    Rule.OUTPUT_BELOW_MIN,
    Scope.COLLECTOR,
    Severity.WARNING,
    subject="output lines",
    judge=_output_below_min,
    threshold=ThresholdSpec("min_lines", "MIN_LINES", "MinLines", 1, Unit.COUNT, Direction.MIN),
)


# --- remediation: rerun the failed inputs ----------------------------------------------------

# Not rules: what the monitor may do about a job-level alert, set per collector like a limit.
REMEDIATION_SPECS: tuple[ThresholdSpec, ...] = (
    ThresholdSpec("rerun_failed_inputs", None, None, False, Unit.SWITCH, Direction.MAX),
    ThresholdSpec(
        "max_reruns_per_day", "MAX_RERUNS_PER_DAY", "MaxRerunsPerDay", 3, Unit.COUNT, Direction.MAX
    ),
)


# --- the catalogue ---------------------------------------------------------------------------


def _catalogue(*specs: RuleSpec) -> Mapping[Rule, RuleSpec]:
    by_rule = {spec.rule: spec for spec in specs}
    if len(by_rule) != len(specs) or set(by_rule) != set(Rule):
        missing = [rule.value for rule in Rule if rule not in by_rule]
        raise RuntimeError(
            f"the rule catalogue needs exactly one spec per Rule (missing: {missing}; "
            f"{len(specs) - len(by_rule)} given twice)"
        )
    # In Rule order: judge() answers in that order and thresholds list their fields in it.
    return MappingProxyType({rule: by_rule[rule] for rule in Rule})


RULES: Mapping[Rule, RuleSpec] = _catalogue(
    _JOB_FAILED,
    _JOB_CANCELLED,
    _SUCCESS_RATE_BELOW_MIN,
    _FAILS_ABOVE_MAX,
    _FAIL_RATIO_ABOVE_MAX,
    _STUCK_QUEUED,
    _STUCK_RUNNING,
    _OUTPUT_BELOW_MIN,
    OUTPUT_BELOW_BASELINE,
    COLLECTOR_SILENT,
    COLLECTOR_UNLISTED,
    COLLECTOR_NOT_FOUND,
)


def _settings_of(spec: RuleSpec) -> tuple[ThresholdSpec, ...]:
    return ((spec.threshold,) if spec.threshold is not None else ()) + spec.options


THRESHOLD_SPECS: Mapping[str, ThresholdSpec] = MappingProxyType(
    {
        setting.key: setting
        for setting in (
            *(s for spec in RULES.values() for s in _settings_of(spec)),
            *REMEDIATION_SPECS,
        )
    }
)
"""Setting key -> its spec: each rule's threshold and options in Rule order, then the
remediation settings."""

RULE_SEVERITY: Mapping[Rule, Severity] = MappingProxyType(
    {rule: spec.severity for rule, spec in RULES.items()}
)
JOB_EVENT_RULES = frozenset(rule for rule, spec in RULES.items() if spec.scope is Scope.JOB_EVENT)
COLLECTOR_RULES = frozenset(rule for rule, spec in RULES.items() if spec.scope is Scope.COLLECTOR)
ACTIVITY_RULES = frozenset(rule for rule, spec in RULES.items() if spec.scope is Scope.ACTIVITY)


def spec_for(rule: Rule) -> RuleSpec:
    """The catalogue entry of `rule`."""
    return RULES[rule]


def spec_named(name: str) -> RuleSpec | None:
    """The catalogue entry of a rule given by name (as an alert document holds it), or None for
    names that are no rule (monitor-health conditions, test alerts)."""
    try:
        return RULES[Rule(name)]
    except ValueError:
        return None


def judge(
    job: JobLog, thresholds: Thresholds, now: datetime, history: History = EMPTY_HISTORY
) -> list[RuleResult]:
    """One RuleResult per enabled job rule, in Rule order (a rule whose optional threshold is
    None, like max_fail_ratio by default, is off). Several rules may breach for one job (a
    failed job usually has a low success rate too); the monitor groups them. `history` is what
    the monitor remembers of the job's collector, for the rules that compare with it."""
    _aware(now)
    results = []
    for spec in RULES.values():
        if spec.judge is None:
            continue
        limit = None if spec.threshold is None else getattr(thresholds, spec.threshold.key)
        if spec.threshold is not None and limit is None:
            continue
        results.append(spec.judge(job, limit, now, history))
    return results


def judge_collector(history: History, thresholds: Thresholds, now: datetime) -> list[RuleResult]:
    """One RuleResult per collector-wide rule judged from the collector's history alone (a rule
    turned off for the collector answers UNKNOWN, which changes nothing); the rules judged from
    the listings are discovery's (see rules_listing)."""
    _aware(now)
    return [
        spec.judge_activity(history, thresholds, now)
        for spec in RULES.values()
        if spec.judge_activity is not None and not spec.from_listing
    ]


def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def evaluate(job: JobLog, thresholds: Thresholds, now: datetime) -> list[Finding]:
    """Only the breaches of judge()."""
    return [result.finding for result in judge(job, thresholds, now) if result.finding]
