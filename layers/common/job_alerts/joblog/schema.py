"""What a parsed job log is made of: the fields an answer may give, the statuses, the bounds of a
stored JobLog, and how a field not used as given is reported (FieldProblem) or a whole answer
refused (JobLogError)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "COUNT_KEYS",
    "DURATION_KEYS",
    "EXTRA_OMITTED_KEY",
    "KNOWN_KEYS",
    "MAX_EXTRA_CHARS",
    "MAX_EXTRA_KEYS",
    "MAX_EXTRA_KEY_CHARS",
    "MAX_EXTRA_VALUE_CHARS",
    "MAX_PROBLEMS",
    "MAX_PROBLEM_CHARS",
    "MAX_STORED_CHARS",
    "MAX_TEXT_CHARS",
    "RATE_AGREEMENT_TOLERANCE",
    "STATUS_ALIASES",
    "TERMINAL_STATUSES",
    "TIME_KEYS",
    "FieldProblem",
    "JobLogError",
    "JobStatus",
    "Judged",
]

# What one stored JobLog may hold (to_dict() lands in a DynamoDB item, limited to 400 KB).
# Ids, status, collector, template and trigger longer than this are not real: the field is odd.
MAX_TEXT_CHARS: Final = 256
# Unknown keys are kept for people debugging a job, within these bounds.
MAX_EXTRA_KEYS: Final = 20
MAX_EXTRA_KEY_CHARS: Final = 64
MAX_EXTRA_VALUE_CHARS: Final = 256  # one value's JSON; longer becomes a truncated string
MAX_EXTRA_CHARS: Final = 4096  # the whole extras map's JSON
# Replaces what did not fit in the extras map: how many unknown keys were left out.
EXTRA_OMITTED_KEY: Final = "(omitted keys)"
MAX_PROBLEMS: Final = 20  # at most one per known field, of which there are fewer
MAX_PROBLEM_CHARS: Final = 160
# len(json.dumps(job.to_dict())) never exceeds this, whatever the answer held (ids are short by
# their pattern). Worst case: status, template and trigger of MAX_TEXT_CHARS astral characters
# (12 JSON characters each) ~9.3 KB, extras ~4.1 KB, problems ~20 x 0.4 KB, the rest ~1.5 KB.
MAX_STORED_CHARS: Final = 32_768
# A reported Success_rate agrees with Success/Inputs when they differ by at most one percentage
# point: the API may round (or cut) the rate to two decimals or to a whole percent.
RATE_AGREEMENT_TOLERANCE: Final = 0.01


class JobLogError(ValueError):
    """A `/dca/log` answer (or a stored JobLog) that cannot be judged at all; `field` names the
    key that decided it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class JobStatus(StrEnum):
    BUILDING = "building"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


TERMINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})

# Other Bright Data endpoints spell it the American way.
STATUS_ALIASES: Mapping[str, JobStatus] = MappingProxyType(
    {
        **{s.value: s for s in JobStatus if s is not JobStatus.UNKNOWN},
        "canceled": JobStatus.CANCELLED,
    }
)


class Judged(StrEnum):
    """How a job was judged despite a field it could not use as given."""

    WITHOUT_IT = "judged without it"
    ON_COUNTS = "judged on the counts"


@dataclass(frozen=True)
class FieldProblem:
    """One field of the answer not used as given. `field` is its lower-case API name, `problem`
    a short ASCII predicate ("unreadable: expected a number, got 'many'") that previews a value
    escaped and cut short, never whole."""

    field: str
    problem: str
    judged: Judged = Judged.WITHOUT_IT

    @property
    def note(self) -> str:
        """A sentence for an alert: "field 'fails' unreadable: ...; judged without it"."""
        return f"field '{self.field}' {self.problem}; {self.judged.value}"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem, "judged": self.judged.value}


# The known fields by lower-case API name; any other key of an answer is kept as an extra.
COUNT_KEYS = (
    "inputs",
    "success",
    "fails",
    "lines",
    "pages",
    "pages_left",
    "dup_inputs",
    "navigations",
)
DURATION_KEYS = ("job_time", "queue_time")
TIME_KEYS = ("created", "started", "finished")
KNOWN_KEYS = frozenset(
    {"id", "status", "collector", "template", "trigger", "success_rate"}.union(
        COUNT_KEYS, DURATION_KEYS, TIME_KEYS
    )
)
