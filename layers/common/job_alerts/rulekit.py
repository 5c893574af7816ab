"""What the rule judges share: rate slack, how values read in messages, and how a breach or a
not-yet-breach is made (a breach carries the severity the catalogue gives its rule)."""

from __future__ import annotations

from datetime import timedelta

from job_alerts.joblog import JobLog
from job_alerts.rulespec import Finding, Rule, RuleResult, Verdict

# Rates are compared with a little slack so 0.9 computed as 0.8999999999 is not a breach.
RATE_TOLERANCE = 1e-9


def percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def minutes_of(duration: timedelta) -> float:
    return round(duration.total_seconds() / 60, 1)


def show_minutes(minutes: float) -> str:
    return f"{round(minutes, 1):g}"


def breach(
    job: JobLog,
    rule: Rule,
    observed: float | int | str | None,
    limit: float | int | str | None,
    message: str,
) -> RuleResult:
    return breach_of(rule, observed, limit, message, job.job_id)


def breach_of(
    rule: Rule,
    observed: float | int | str | None,
    limit: float | int | str | None,
    message: str,
    job_id: str,
) -> RuleResult:
    """A breach, with the severity the catalogue gives the rule."""
    # Imported here: the catalogue is assembled from the modules that use this helper, and is
    # complete by the time anything is judged.
    from job_alerts.rules import RULES

    finding = Finding(rule, RULES[rule].severity, observed, limit, message, job_id)
    return RuleResult(rule, Verdict.BREACH, finding)


def not_breached(job: JobLog, rule: Rule) -> RuleResult:
    """No breach now: final for a settled job, provisional for a live one."""
    return RuleResult(rule, Verdict.OK if job.settled else Verdict.PENDING)


def duration(span: timedelta) -> str:
    """A span as people say it: 45 min, 3 h, 2 h 30 min, 1 d 4 h."""
    minutes = round(span.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else ""]
    parts.append(f"{minutes} min" if minutes and not days else "")
    return " ".join(part for part in parts if part) or "0 min"
