"""Judge and decide stages, the monitor's pure core. `judge_jobs` (``judging``) turns read jobs
into rule results; `decide_collector` (``collector``) and `decide_health` (``health``) turn prior
state + results + now into decisions: alert entries, each with the claim that makes it
once-only, and alarm windows to save. Nothing here reads a clock, calls AWS or the API, or
mutates what it is given."""

from job_alerts.decide.collector import (
    ALERT_JOBS_SHOWN,
    JOB_READABLE_AGAIN,
    JOB_UNREADABLE,
    UNREADABLE_AFTER,
    Decision,
    UnreadableJob,
    decide_collector,
    with_notes,
)
from job_alerts.decide.health import (
    UNREACHABLE_FAILURE_SHARE,
    HealthAssessment,
    assess_health,
    decide_health,
    is_failed_call,
    is_failed_listing,
    unjudgeable_reason,
)
from job_alerts.decide.judging import (
    JudgedJob,
    Judgement,
    collector_of,
    judge_activity,
    judge_jobs,
)

__all__ = [
    "ALERT_JOBS_SHOWN",
    "JOB_READABLE_AGAIN",
    "JOB_UNREADABLE",
    "UNREACHABLE_FAILURE_SHARE",
    "UNREADABLE_AFTER",
    "Decision",
    "HealthAssessment",
    "JudgedJob",
    "Judgement",
    "UnreadableJob",
    "assess_health",
    "collector_of",
    "decide_collector",
    "decide_health",
    "is_failed_call",
    "is_failed_listing",
    "judge_activity",
    "judge_jobs",
    "unjudgeable_reason",
    "with_notes",
]
