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
from job_alerts.timeutil import iso_seconds

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

# Rates are compared with a little slack so 0.9 computed as 0.8999999999 is not a breach.
_RATE_TOLERANCE = 1e-9


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _minutes(duration: timedelta) -> float:
    return round(duration.total_seconds() / 60, 1)


def _show_minutes(minutes: float) -> str:
    return f"{round(minutes, 1):g}"


def _breach(
    job: JobLog,
    rule: Rule,
    observed: float | int | str | None,
    limit: float | int | str | None,
    message: str,
) -> RuleResult:
    finding = Finding(rule, RULES[rule].severity, observed, limit, message, job.job_id)
    return RuleResult(rule, Verdict.BREACH, finding)


def _not_breached(job: JobLog, rule: Rule) -> RuleResult:
    """No breach now: final for a settled job, provisional for a live one."""
    return RuleResult(rule, Verdict.OK if job.settled else Verdict.PENDING)


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
        return _breach(job, rule, job.status.value, None, "job ended with status failed")
    if job.settled and job.status is JobStatus.UNKNOWN:
        return RuleResult(rule, Verdict.UNKNOWN)
    return _not_breached(job, rule)


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
        return _breach(job, rule, job.status.value, None, f"job was {raw.lower()}")
    if job.settled and job.status is JobStatus.UNKNOWN:
        return RuleResult(rule, Verdict.UNKNOWN)
    return _not_breached(job, rule)


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
    if rate >= minimum - _RATE_TOLERANCE:
        return RuleResult(rule, Verdict.OK)
    message = f"success rate {_percent(rate)} is below the minimum {_percent(minimum)}"
    if job.success is not None and job.inputs is not None:
        message += f" ({job.success} of {job.inputs} inputs succeeded)"
    return _breach(job, rule, rate, minimum, message)


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
        noun = "input" if job.fails == 1 else "inputs"
        message = f"{job.fails} {noun} failed, more than the allowed {maximum}"
        return _breach(job, rule, job.fails, maximum, message)
    return _not_breached(job, rule)


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
    if ratio is None:
        return RuleResult(rule, Verdict.UNKNOWN if job.settled else Verdict.PENDING)
    if ratio > maximum + _RATE_TOLERANCE:
        message = (
            f"fail ratio {_percent(ratio)} is above the maximum {_percent(maximum)}"
            f" ({job.fails} of {job.inputs} inputs failed)"
        )
        return _breach(job, rule, ratio, maximum, message)
    return _not_breached(job, rule)


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
    minutes = _minutes(now - job.created)
    if minutes <= limit:
        return RuleResult(rule, Verdict.OK)
    message = (
        f"queued for {_show_minutes(minutes)} min, "
        f"longer than the allowed {_show_minutes(limit)} min"
    )
    return _breach(job, rule, minutes, limit, message)


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
    minutes = _minutes(now - job.started)
    if minutes <= limit:
        return RuleResult(rule, Verdict.OK)
    # A job left paused is not progressing either; say so rather than call it running.
    doing = "paused" if job.status is JobStatus.PAUSED else "running"
    message = (
        f"{doing} for {_show_minutes(minutes)} min, "
        f"longer than the allowed {_show_minutes(limit)} min"
    )
    return _breach(job, rule, minutes, limit, message)


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
        f"{job.lines} output {'line' if job.lines == 1 else 'lines'} from {job.inputs} inputs, "
        f"fewer than the minimum {minimum}"
    )
    return _breach(job, rule, job.lines, minimum, message)


_OUTPUT_BELOW_MIN = RuleSpec(
    Rule.OUTPUT_BELOW_MIN,
    Scope.COLLECTOR,
    Severity.WARNING,
    subject="output lines",
    judge=_output_below_min,
    threshold=ThresholdSpec("min_lines", "MIN_LINES", "MinLines", 1, Unit.COUNT, Direction.MIN),
)


# --- output_below_baseline -------------------------------------------------------------------


def _output_below_baseline(
    job: JobLog, minimum_share: float, _now: datetime, history: History = EMPTY_HISTORY
) -> RuleResult:
    rule = Rule.OUTPUT_BELOW_BASELINE
    if not job.settled:
        return RuleResult(rule, Verdict.PENDING)
    baseline = history.baseline(exclude=job.job_id)
    if baseline is None or job.lines is None:
        return RuleResult(rule, Verdict.UNKNOWN)
    median = baseline.median_lines
    # A collector whose median is 0 lines has nothing to fall below.
    if median <= 0 or job.lines >= median * minimum_share - _RATE_TOLERANCE:
        return RuleResult(rule, Verdict.OK)
    shown = list(baseline.job_ids[-_JOBS_NAMED:])
    earlier = len(baseline.job_ids) - len(shown)
    jobs = ", ".join(shown) + (f" and {earlier} earlier" if earlier else "")
    message = (
        f"{job.lines} output {'line' if job.lines == 1 else 'lines'}, "
        f"{_percent(job.lines / median)} of this collector's median of {median:g} "
        f"over its last {len(baseline.job_ids)} settled jobs ({jobs}); "
        f"the limit is {_percent(minimum_share)} of the median"
    )
    return _breach(job, rule, job.lines, round(median * minimum_share, 1), message)


# The baseline jobs an alert names (the most recent; the rest are counted).
_JOBS_NAMED = 5

_OUTPUT_BELOW_BASELINE = RuleSpec(
    Rule.OUTPUT_BELOW_BASELINE,
    Scope.JOB_EVENT,
    Severity.WARNING,
    subject="output lines vs its median",
    judge=_output_below_baseline,
    measured_in=Unit.COUNT,
    threshold=ThresholdSpec(
        "min_lines_vs_median",
        "MIN_LINES_VS_MEDIAN",
        "MinLinesVsMedian",
        0.5,
        Unit.RATE,
        Direction.MIN,
        optional=True,
    ),
    advice=(
        "This job returned far less than this collector usually does: check whether the target "
        "site changed (layout, blocking) or the inputs did. If the collector's output really "
        "changed for good, the median follows within 20 jobs; to judge it differently, set "
        "`min_lines_vs_median` for it with a per-collector override (null turns this off)."
    ),
)


# --- collector_silent ------------------------------------------------------------------------

# However regular a collector, less than an hour without a job is no silence worth an alarm.
MIN_SILENCE = timedelta(minutes=60)


def silence_limit(history: History, thresholds: Thresholds) -> tuple[timedelta, str] | None:
    """How long a collector may go without starting a job, and why; None when it is not judged
    (the rule is off for it, or it has too few jobs to learn its cadence from)."""
    explicit = thresholds.max_silence_minutes
    if explicit is not None:
        return timedelta(minutes=explicit), "its max_silence_minutes"
    factor = thresholds.max_silence_factor
    cadence = history.cadence()
    if factor is None or cadence is None:
        return None
    limit = max(cadence.interval * factor, MIN_SILENCE)
    return limit, f"{factor:g} x its usual interval, at least {_duration(MIN_SILENCE)}"


def _collector_silent(history: History, thresholds: Thresholds, now: datetime) -> RuleResult:
    rule = Rule.COLLECTOR_SILENT
    last = history.last_created
    limit = silence_limit(history, thresholds)
    if limit is None or last is None:
        return RuleResult(rule, Verdict.UNKNOWN)
    allowed, why = limit
    silent = now - last
    if silent <= allowed:
        return RuleResult(rule, Verdict.OK)
    cadence = history.cadence()
    usually = f" (usually every {_duration(cadence.interval)})" if cadence else ""
    message = (
        f"no job since {iso_seconds(last)}{usually}: no new job for {_duration(silent)}, "
        f"longer than the allowed {_duration(allowed)} ({why})"
    )
    finding = Finding(rule, RULES[rule].severity, _minutes(silent), _minutes(allowed), message, "")
    return RuleResult(rule, Verdict.BREACH, finding)


def _duration(span: timedelta) -> str:
    """A span as people say it: 45 min, 3 h, 2 h 30 min, 1 d 4 h."""
    minutes = round(span.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else ""]
    parts.append(f"{minutes} min" if minutes and not days else "")
    return " ".join(part for part in parts if part) or "0 min"


_COLLECTOR_SILENT = RuleSpec(
    Rule.COLLECTOR_SILENT,
    Scope.ACTIVITY,
    Severity.CRITICAL,
    subject="time without a new job",
    judge_activity=_collector_silent,
    measured_in=Unit.MINUTES,
    threshold=ThresholdSpec(
        "max_silence_factor",
        "MAX_SILENCE_FACTOR",
        "MaxSilenceFactor",
        3.0,
        Unit.FACTOR,
        Direction.MAX,
        optional=True,
    ),
    options=(
        ThresholdSpec(
            "max_silence_minutes", None, None, None, Unit.MINUTES, Direction.MAX, optional=True
        ),
    ),
    advice=(
        "This collector has stopped starting jobs: check its schedule and the account's "
        "balance in the Bright Data control panel. If it only runs now and then, set "
        "`max_silence_minutes` for it (or `max_silence_factor: null` to stop judging it) with "
        "a per-collector override."
    ),
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
    _OUTPUT_BELOW_BASELINE,
    _COLLECTOR_SILENT,
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
    """One RuleResult per collector-wide rule, from the collector's history alone (a rule turned
    off for the collector answers UNKNOWN, which changes nothing)."""
    _aware(now)
    return [
        spec.judge_activity(history, thresholds, now)
        for spec in RULES.values()
        if spec.judge_activity is not None
    ]


def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def evaluate(job: JobLog, thresholds: Thresholds, now: datetime) -> list[Finding]:
    """Only the breaches of judge()."""
    return [result.finding for result in judge(job, thresholds, now) if result.finding]
