"""The rules that judge a collector against its own past (see `history`): a job far below the
collector's median output, and a collector that stopped starting jobs. Part of the catalogue in
`rules`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from job_alerts.history import EMPTY_HISTORY, History
from job_alerts.joblog import JobLog
from job_alerts.rulekit import RATE_TOLERANCE, breach, breach_of, minutes_of
from job_alerts.rulespec import (
    Direction,
    Rule,
    RuleResult,
    RuleSpec,
    Scope,
    Severity,
    ThresholdSpec,
    Unit,
    Verdict,
)
from job_alerts.text import count, duration, moment, number, percent

if TYPE_CHECKING:
    from job_alerts.thresholds import Thresholds

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
    if median <= 0 or job.lines >= median * minimum_share - RATE_TOLERANCE:
        return RuleResult(rule, Verdict.OK)
    shown = list(baseline.job_ids[-_JOBS_NAMED:])
    earlier = len(baseline.job_ids) - len(shown)
    jobs = ", ".join(shown) + (f" and {count(earlier)} earlier" if earlier else "")
    message = (
        f"{count(job.lines, 'output line')}, "
        f"{percent(job.lines / median, beside=minimum_share)} of this collector's median of "
        f"{number(median)} over its last {count(len(baseline.job_ids), 'settled job')} ({jobs}); "
        f"the limit is {percent(minimum_share)} of the median"
    )
    return breach(job, rule, job.lines, round(median * minimum_share, 1), message)


# The baseline jobs an alert names (the most recent; the rest are counted).
_JOBS_NAMED = 5

OUTPUT_BELOW_BASELINE = RuleSpec(
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
    (the rule is off for it, or it has too few launches to learn its cadence from: see
    `History.cadence`, which counts launches of jobs, not jobs)."""
    explicit = thresholds.max_silence_minutes
    if explicit is not None:
        return timedelta(minutes=explicit), "its max_silence_minutes"
    factor = thresholds.max_silence_factor
    cadence = history.cadence()
    if factor is None or cadence is None:
        return None
    limit = max(cadence.interval * factor, MIN_SILENCE)
    return limit, f"{number(factor)} x its usual interval, at least {duration(MIN_SILENCE)}"


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
    usually = f" (usually every {duration(cadence.interval)})" if cadence else ""
    message = (
        f"no job since {moment(last)}{usually}: no new job for "
        f"{duration(silent, beside=allowed)}, longer than the allowed {duration(allowed)} ({why})"
    )
    return breach_of(rule, minutes_of(silent), minutes_of(allowed), message, "")


COLLECTOR_SILENT = RuleSpec(
    Rule.COLLECTOR_SILENT,
    Scope.ACTIVITY,
    Severity.CRITICAL,
    subject="time without a new job",
    judge_activity=_collector_silent,
    measured_in=Unit.MINUTES,
    resolved="the collector started a job again",
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
