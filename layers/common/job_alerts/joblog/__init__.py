"""The typed, immutable view of one Bright Data `/dca/log/{job_id}` answer (``model``: JobLog
and its stored form), and the parser that reads it field by field (``parse``, reading each value
with ``fields``): what can be judged is judged, every odd field is named on the JobLog, and only
an answer with nothing to judge is refused (JobLogError). Statuses, bounds and problems are in
``schema``. The names other modules use are importable from here."""

from job_alerts.joblog.model import JobLog
from job_alerts.joblog.parse import parse_job_log
from job_alerts.joblog.schema import (
    EXTRA_OMITTED_KEY,
    MAX_EXTRA_CHARS,
    MAX_EXTRA_KEY_CHARS,
    MAX_EXTRA_KEYS,
    MAX_EXTRA_VALUE_CHARS,
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    MAX_STORED_CHARS,
    MAX_TEXT_CHARS,
    RATE_AGREEMENT_TOLERANCE,
    TERMINAL_STATUSES,
    FieldProblem,
    JobLogError,
    JobStatus,
    Judged,
)

__all__ = [
    "EXTRA_OMITTED_KEY",
    "MAX_EXTRA_CHARS",
    "MAX_EXTRA_KEYS",
    "MAX_EXTRA_KEY_CHARS",
    "MAX_EXTRA_VALUE_CHARS",
    "MAX_PROBLEMS",
    "MAX_PROBLEM_CHARS",
    "MAX_STORED_CHARS",
    "MAX_TEXT_CHARS",
    "RATE_AGREEMENT_TOLERANCE",
    "TERMINAL_STATUSES",
    "FieldProblem",
    "JobLog",
    "JobLogError",
    "JobStatus",
    "Judged",
    "parse_job_log",
]
