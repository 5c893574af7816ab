"""Pure alert rules: judge one JobLog against Thresholds at a given time, rule by rule.
No I/O; the monitor decides what to do with the verdicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from job_alerts.joblog import JobLog, JobStatus
from job_alerts.thresholds import Thresholds

__all__ = [
    "COLLECTOR_RULES",
    "JOB_EVENT_RULES",
    "RULE_SEVERITY",
    "Finding",
    "Rule",
    "RuleResult",
    "Severity",
    "Verdict",
    "evaluate",
    "judge",
    "max_severity",
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


# Things that happen to one job: alerted once, nothing to recover from.
JOB_EVENT_RULES = frozenset(
    {Rule.JOB_FAILED, Rule.JOB_CANCELLED, Rule.STUCK_QUEUED, Rule.STUCK_RUNNING}
)
# Quality of a collector's output: an alarm state per collector and rule, with recovery.
COLLECTOR_RULES = frozenset(Rule) - JOB_EVENT_RULES

RULE_SEVERITY = {
    Rule.JOB_FAILED: Severity.CRITICAL,
    Rule.JOB_CANCELLED: Severity.WARNING,
    Rule.SUCCESS_RATE_BELOW_MIN: Severity.CRITICAL,
    Rule.FAILS_ABOVE_MAX: Severity.WARNING,
    Rule.FAIL_RATIO_ABOVE_MAX: Severity.WARNING,
    Rule.STUCK_QUEUED: Severity.WARNING,
    Rule.STUCK_RUNNING: Severity.WARNING,
    Rule.OUTPUT_BELOW_MIN: Severity.WARNING,
}


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
    finding = Finding(rule, RULE_SEVERITY[rule], observed, limit, message, job.job_id)
    return RuleResult(rule, Verdict.BREACH, finding)


def _not_breached(job: JobLog, rule: Rule) -> RuleResult:
    """No breach now: final for a settled job, provisional for a live one."""
    return RuleResult(rule, Verdict.OK if job.settled else Verdict.PENDING)


def _job_failed(job: JobLog) -> RuleResult:
    rule = Rule.JOB_FAILED
    if job.status is JobStatus.FAILED:
        return _breach(job, rule, job.status.value, None, "job ended with status failed")
    if job.settled and job.status is JobStatus.UNKNOWN:
        return RuleResult(rule, Verdict.UNKNOWN)
    return _not_breached(job, rule)


def _job_cancelled(job: JobLog) -> RuleResult:
    rule = Rule.JOB_CANCELLED
    if job.status is JobStatus.CANCELLED:
        raw = (job.raw_status or job.status.value).strip()
        return _breach(job, rule, job.status.value, None, f"job was {raw.lower()}")
    if job.settled and job.status is JobStatus.UNKNOWN:
        return RuleResult(rule, Verdict.UNKNOWN)
    return _not_breached(job, rule)


def _success_rate_below_min(job: JobLog, minimum: float) -> RuleResult:
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


def _fails_above_max(job: JobLog, maximum: int) -> RuleResult:
    rule = Rule.FAILS_ABOVE_MAX
    if job.fails is None:
        return RuleResult(rule, Verdict.UNKNOWN if job.settled else Verdict.PENDING)
    # Failures only ever add up, so a live job that is already over the limit is a breach.
    if job.fails > maximum:
        noun = "input" if job.fails == 1 else "inputs"
        message = f"{job.fails} {noun} failed, more than the allowed {maximum}"
        return _breach(job, rule, job.fails, maximum, message)
    return _not_breached(job, rule)


def _fail_ratio_above_max(job: JobLog, maximum: float) -> RuleResult:
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


def _output_below_min(job: JobLog, minimum: int) -> RuleResult:
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


def judge(job: JobLog, thresholds: Thresholds, now: datetime) -> list[RuleResult]:
    """One RuleResult per enabled rule, in Rule order (the fail-ratio rule is off while
    max_fail_ratio is None). Several rules may breach for one job (a failed job usually has
    a low success rate too); the monitor groups them."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    results = [
        _job_failed(job),
        _job_cancelled(job),
        _success_rate_below_min(job, thresholds.min_success_rate),
        _fails_above_max(job, thresholds.max_fails),
    ]
    if thresholds.max_fail_ratio is not None:
        results.append(_fail_ratio_above_max(job, thresholds.max_fail_ratio))
    results += [
        _stuck_queued(job, thresholds.max_queue_minutes, now),
        _stuck_running(job, thresholds.max_run_minutes, now),
        _output_below_min(job, thresholds.min_lines),
    ]
    return results


def evaluate(job: JobLog, thresholds: Thresholds, now: datetime) -> list[Finding]:
    """Only the breaches of judge()."""
    return [result.finding for result in judge(job, thresholds, now) if result.finding]
