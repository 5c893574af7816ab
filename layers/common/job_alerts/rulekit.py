"""What the rule judges share: rate slack, spans as the minutes a finding records, and how a
breach or a not-yet-breach is made (a breach carries the severity the catalogue gives its rule).
How values read in their messages is `job_alerts.text`'s."""

from __future__ import annotations

from datetime import timedelta

from job_alerts.joblog import JobLog
from job_alerts.rulespec import Finding, Rule, RuleResult, Verdict

# Rates are compared with a little slack so 0.9 computed as 0.8999999999 is not a breach.
RATE_TOLERANCE = 1e-9


def minutes_of(span: timedelta) -> float:
    """A span as the minutes a finding records for it (its observed value or limit)."""
    return round(span.total_seconds() / 60, 1)


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
