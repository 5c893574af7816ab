"""The rule catalogue: one spec per rule (scope, severity, threshold, words, advice) beside its
pure judge, which weighs one JobLog against its limit at a given time. No I/O; the monitor decides
what to do with the verdicts. Thresholds, alert wording and subjects are derived from here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from job_alerts.joblog import JobLog, JobStatus

if TYPE_CHECKING:
    # Only a type here: thresholds derives its fields from this catalogue, so importing it at
    # run time would be circular.
    from job_alerts.thresholds import Thresholds

__all__ = [
    "COLLECTOR_RULES",
    "JOB_EVENT_RULES",
    "RULES",
    "RULE_SEVERITY",
    "THRESHOLD_SPECS",
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
    "max_severity",
    "spec_for",
    "spec_named",
]

# Rates are compared with a little slack so 0.9 computed as 0.8999999999 is not a breach.
_RATE_TOLERANCE = 1e-9


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Case-insensitive lookup for configuration and CLI input."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of: {valid}") from None


_SEVERITY_RANK = {Severity.CRITICAL: 3, Severity.WARNING: 2, Severity.INFO: 1}


def max_severity(severities: Iterable[Severity]) -> Severity | None:
    """The most severe of `severities`, or None when there are none."""
    return max(severities, key=lambda severity: severity.rank, default=None)


class Rule(StrEnum):
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"
    SUCCESS_RATE_BELOW_MIN = "success_rate_below_min"
    FAILS_ABOVE_MAX = "fails_above_max"
    FAIL_RATIO_ABOVE_MAX = "fail_ratio_above_max"
    STUCK_QUEUED = "stuck_queued"
    STUCK_RUNNING = "stuck_running"
    OUTPUT_BELOW_MIN = "output_below_min"


class Scope(StrEnum):
    # Something that happens to one job: alerted once, nothing to recover from.
    JOB_EVENT = "job_event"
    # Quality of a collector's output: an alarm state per collector and rule, with recovery.
    COLLECTOR = "collector"


class Unit(StrEnum):
    RATE = "rate"  # a fraction 0..1, shown as a percentage
    COUNT = "count"  # a whole number
    MINUTES = "minutes"  # a duration


class Direction(StrEnum):
    MIN = "min"  # breached below the limit
    MAX = "max"  # breached above the limit

    @property
    def breach_operator(self) -> str:
        """How a breach reads: "success rate 42% < 90%"."""
        return "<" if self is Direction.MIN else ">"


@dataclass(frozen=True)
class ThresholdSpec:
    """The limit a rule is judged against, and every name it goes by."""

    key: str  # Thresholds field and override-document key
    env_var: str  # environment variable of the monitor
    parameter: str  # template.yaml parameter that sets env_var
    default: float | int | None
    unit: Unit
    direction: Direction
    # None (an empty parameter, JSON null) turns the rule off.
    optional: bool = False

    def __post_init__(self) -> None:
        if self.default is None and not self.optional:
            raise ValueError(f"{self.key}: only an optional threshold may default to off")


class Verdict(StrEnum):
    BREACH = "breach"
    OK = "ok"
    # Settled, but the numbers the rule needs were not reported.
    UNKNOWN = "unknown"
    # Cannot be judged yet: the job is still live and may still change.
    PENDING = "pending"


@dataclass(frozen=True)
class Finding:
    rule: Rule
    severity: Severity
    observed: float | int | str | None
    limit: float | int | str | None
    message: str
    job_id: str


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    verdict: Verdict
    finding: Finding | None = None


# judge(job, limit, now): the limit's type follows the threshold's unit (float for rates and
# minutes, int for counts), and is None for a rule without a threshold.
Judge = Callable[[JobLog, Any, datetime], RuleResult]


@dataclass(frozen=True)
class RuleSpec:
    """Everything about one rule, Spidermon-style: what it judges and how it is told."""

    rule: Rule
    scope: Scope
    severity: Severity
    # What the rule is about, as it reads in "<subject> 42% < 90%" and
    # "<subject> back within its limit".
    subject: str
    judge: Judge
    threshold: ThresholdSpec | None = None
    # What to do about a breach, when the advice for the alert's kind does not fit.
    advice: str | None = None


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


def _job_failed(job: JobLog, _limit: None, _now: datetime) -> RuleResult:
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


def _job_cancelled(job: JobLog, _limit: None, _now: datetime) -> RuleResult:
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


def _success_rate_below_min(job: JobLog, minimum: float, _now: datetime) -> RuleResult:
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


def _fails_above_max(job: JobLog, maximum: int, _now: datetime) -> RuleResult:
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


def _fail_ratio_above_max(job: JobLog, maximum: float, _now: datetime) -> RuleResult:
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


def _stuck_queued(job: JobLog, limit: float, now: datetime) -> RuleResult:
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


def _stuck_running(job: JobLog, limit: float, now: datetime) -> RuleResult:
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


def _output_below_min(job: JobLog, minimum: int, _now: datetime) -> RuleResult:
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
)

THRESHOLD_SPECS: Mapping[str, ThresholdSpec] = MappingProxyType(
    {spec.threshold.key: spec.threshold for spec in RULES.values() if spec.threshold is not None}
)
"""Threshold key -> its spec, in Rule order."""

RULE_SEVERITY: Mapping[Rule, Severity] = MappingProxyType(
    {rule: spec.severity for rule, spec in RULES.items()}
)
JOB_EVENT_RULES = frozenset(rule for rule, spec in RULES.items() if spec.scope is Scope.JOB_EVENT)
COLLECTOR_RULES = frozenset(rule for rule, spec in RULES.items() if spec.scope is Scope.COLLECTOR)


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


def judge(job: JobLog, thresholds: Thresholds, now: datetime) -> list[RuleResult]:
    """One RuleResult per enabled rule, in Rule order (a rule whose optional threshold is None,
    like max_fail_ratio by default, is off). Several rules may breach for one job (a failed job
    usually has a low success rate too); the monitor groups them."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    results = []
    for spec in RULES.values():
        limit = None if spec.threshold is None else getattr(thresholds, spec.threshold.key)
        if spec.threshold is not None and limit is None:
            continue
        results.append(spec.judge(job, limit, now))
    return results


def evaluate(job: JobLog, thresholds: Thresholds, now: datetime) -> list[Finding]:
    """Only the breaches of judge()."""
    return [result.finding for result in judge(job, thresholds, now) if result.finding]
