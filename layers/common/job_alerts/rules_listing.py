"""The rules about whether a collector can be watched at all, judged by discovery from this run's
listings: a collector whose jobs cannot be listed run after run, and a collector the account's
collectors_list does not show. Part of the catalogue in `rules`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from job_alerts.history import History
from job_alerts.rulekit import breach_of
from job_alerts.rulespec import (
    ActivityJudge,
    Finding,
    Rule,
    RuleResult,
    RuleSpec,
    Scope,
    Severity,
    Verdict,
)
from job_alerts.text import count

if TYPE_CHECKING:
    from job_alerts.thresholds import Thresholds

# A collector's job listing may fail once or twice (a maintenance page, a 5xx burst): only this
# many failed listings in a row, on consecutive runs, open the alarm.
UNLISTED_AFTER_RUNS = 3


def _not_from_history(rule: Rule) -> ActivityJudge:
    """The collector's history says nothing about its listings: these rules are judged by
    discovery (judge_unlisted, judge_not_found), never by judge_collector."""

    def judge(_history: History, _thresholds: Thresholds, _now: datetime) -> RuleResult:
        return RuleResult(rule, Verdict.UNKNOWN)

    return judge


def no_longer_watched(rule: Rule, message: str) -> RuleResult:
    """OK, because the collector is not watched any more (taken out of Collectors, or gone from
    the account for long): the finding says so, and the RESOLVED entry quotes it."""
    return RuleResult(rule, Verdict.OK, Finding(rule, Severity.INFO, None, None, message, ""))


# --- collector_unlisted ----------------------------------------------------------------------


def judge_unlisted(failed_runs: int, failure: str) -> RuleResult:
    """`failed_runs`: the runs in a row whose listing of the collector's jobs failed (0: it was
    listed this run); `failure`: what the latest listing answered (escaped, token-free)."""
    rule = Rule.COLLECTOR_UNLISTED
    if failed_runs <= 0:
        return RuleResult(rule, Verdict.OK)
    if failed_runs < UNLISTED_AFTER_RUNS:
        return RuleResult(rule, Verdict.UNKNOWN)
    message = (
        f"jobs could not be listed on {count(failed_runs, 'run')} in a row: {failure}; jobs it "
        "starts go unseen until a listing works"
    )
    return breach_of(rule, failed_runs, UNLISTED_AFTER_RUNS, message, "")


COLLECTOR_UNLISTED = RuleSpec(
    Rule.COLLECTOR_UNLISTED,
    Scope.ACTIVITY,
    # As severe as the DEGRADED alert it is the per-collector form of: the collector is not
    # watched, and whoever only hears critical alerts must hear that.
    Severity.CRITICAL,
    subject="listing of its jobs",
    judge_activity=_not_from_history(Rule.COLLECTOR_UNLISTED),
    from_listing=True,
    resolved="its jobs can be listed again",
    advice=(
        "Bright Data's listing of this collector's jobs (GET /dca/collector/jobs) keeps failing, "
        "so jobs it starts are not seen (jobs already known are still read). Check the answer "
        "quoted above and the collector in the Bright Data control panel; `job-alerts status` "
        "shows the monitor's health. The alarm resolves by itself once a listing works."
    ),
)


# --- collector_not_found ---------------------------------------------------------------------


def judge_not_found(collector_id: str, why: str | None) -> RuleResult:
    """BREACH when collectors_list did not show the collector and `why` says how its own job
    listing came out (failed, or showed no job); OK (`why` None) when it is shown or its
    listing shows jobs."""
    rule = Rule.COLLECTOR_NOT_FOUND
    if why is None:
        return RuleResult(rule, Verdict.OK)
    message = (
        f"{collector_id} is not in this account's collectors: collectors_list does not show it "
        f"and {why}; nothing of it is watched"
    )
    return breach_of(rule, None, None, message, "")


COLLECTOR_NOT_FOUND = RuleSpec(
    Rule.COLLECTOR_NOT_FOUND,
    Scope.ACTIVITY,
    Severity.WARNING,
    subject="presence in the account's collectors",
    judge_activity=_not_from_history(Rule.COLLECTOR_NOT_FOUND),
    from_listing=True,
    resolved="it is in this account's collectors again",
    advice=(
        "Check the id: a mistyped id in the Collectors parameter watches nothing. Correct it, or "
        "remove it from Collectors if the collector was deleted; the alarm resolves when the id "
        "is listed again or no longer configured. Without Collectors, a collector that left the "
        "account is forgotten a week after its jobs were last listed."
    ),
)
