"""The vocabulary of the rule catalogue: rules, scopes, severities, verdicts, findings, and the
spec that tells everything about one rule and its threshold. No judging here (see `rules`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from job_alerts.history import History
from job_alerts.joblog import JobLog

if TYPE_CHECKING:
    # Only a type here: thresholds derives its fields from the catalogue, so importing it at
    # run time would be circular.
    from job_alerts.thresholds import Thresholds


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
    OUTPUT_BELOW_BASELINE = "output_below_baseline"
    COLLECTOR_SILENT = "collector_silent"
    COLLECTOR_UNLISTED = "collector_unlisted"
    COLLECTOR_NOT_FOUND = "collector_not_found"


class Scope(StrEnum):
    # Something that happens to one job: alerted once, nothing to recover from.
    JOB_EVENT = "job_event"
    # Quality of a collector's output: an alarm state per collector and rule, with recovery.
    COLLECTOR = "collector"
    # About the collector as a whole, judged from its history once per run with no job at hand
    # (it stopped starting jobs): an alarm state per collector and rule, with recovery.
    ACTIVITY = "activity"


class Unit(StrEnum):
    RATE = "rate"  # a fraction 0..1, shown as a percentage
    COUNT = "count"  # a whole number
    MINUTES = "minutes"  # a duration
    FACTOR = "factor"  # a multiplier > 0
    SWITCH = "switch"  # on (true) or off (false)


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
    # Environment variable of the monitor and the template.yaml parameter that sets it; None
    # for a setting made per collector in the override document only.
    env_var: str | None
    parameter: str | None
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


# judge(job, limit, now, history): the limit's type follows the threshold's unit (float for
# rates and minutes, int for counts), and is None for a rule without a threshold; history is what
# the monitor remembers of the job's collector (most rules ignore it).
Judge = Callable[[JobLog, Any, datetime, History], RuleResult]
# judge_activity(history, thresholds, now): a collector-wide rule, from the collector's history.
ActivityJudge = Callable[[History, "Thresholds", datetime], RuleResult]


@dataclass(frozen=True)
class RuleSpec:
    """Everything about one rule, Spidermon-style: what it judges and how it is told."""

    rule: Rule
    scope: Scope
    severity: Severity
    # What the rule is about, as it reads in "<subject> 42% < 90%" and
    # "<subject> back within its limit".
    subject: str
    # How a job is judged (job and collector scopes); None for a collector-wide rule.
    judge: Judge | None = None
    threshold: ThresholdSpec | None = None
    # What to do about a breach, when the advice for the alert's kind does not fit.
    advice: str | None = None
    # How the collector is judged (activity scope only).
    judge_activity: ActivityJudge | None = None
    # Further settings the rule reads (per collector, beside its threshold).
    options: tuple[ThresholdSpec, ...] = ()
    # The unit of a finding's observed value and limit, when the threshold is not itself the
    # limit but scales something learned (a share of a median, a factor of an interval).
    measured_in: Unit | None = None
    # What the RESOLVED entry of a collector-wide rule says (how the collector got better).
    resolved: str | None = None
    # Judged by discovery from this run's listings (collectors_list, the collector's jobs):
    # its judge_activity, which sees the collector's history alone, has nothing to say.
    from_listing: bool = False

    def __post_init__(self) -> None:
        by_collector = self.scope is Scope.ACTIVITY
        if (self.judge_activity is not None) is not by_collector or (
            self.judge is not None
        ) is by_collector:
            raise ValueError(
                f"{self.rule}: a collector-wide rule has judge_activity, any other a judge"
            )
