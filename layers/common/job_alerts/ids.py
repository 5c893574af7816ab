"""Bright Data ids, the one way: what a job id and a collector id look like, checked before an id
becomes part of a URL, a table key or a tracked job. Matching is always whole-string."""

from __future__ import annotations

import re
from typing import Final

from job_alerts.text import preview

# Real ids are ~18 base-36 characters after the prefix; 64 leaves room for longer ids without
# letting a caller smuggle path or query syntax into a URL.
ID_BODY_MAX: Final = 64
JOB_ID_PATTERN: Final = re.compile(rf"(?:j|vj)_[A-Za-z0-9_]{{1,{ID_BODY_MAX}}}")
COLLECTOR_ID_PATTERN: Final = re.compile(rf"c_[A-Za-z0-9_]{{1,{ID_BODY_MAX}}}")
JOB_ID_EXPECTED: Final = f"'j_' or 'vj_' then 1-{ID_BODY_MAX} of [A-Za-z0-9_]"
COLLECTOR_ID_EXPECTED: Final = f"'c_' then 1-{ID_BODY_MAX} of [A-Za-z0-9_]"


class InvalidId(ValueError):  # noqa: N818 - team contract name
    """A job or collector id that is not one; nothing was done with it."""

    kind = "invalid_id"


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(str.__str__(value)) is not None


def is_collector_id(value: object) -> bool:
    return isinstance(value, str) and COLLECTOR_ID_PATTERN.fullmatch(str.__str__(value)) is not None


def _validate(value: object, pattern: re.Pattern[str], what: str, expected: str) -> str:
    if not isinstance(value, str):
        raise InvalidId(f"{what} must be a str, not {type(value).__name__}")
    # A str subclass could override formatting; validate and return the plain characters.
    plain = str.__str__(value)
    if pattern.fullmatch(plain) is None:
        raise InvalidId(f"invalid {what} {preview(plain)}: expected {expected}")
    return plain


def validate_job_id(value: object) -> str:
    """Return `value` if it is a job id (`j_…` batch or `vj_…` real-time), else raise InvalidId."""
    return _validate(value, JOB_ID_PATTERN, "job id", JOB_ID_EXPECTED)


def validate_collector_id(value: object) -> str:
    """Return `value` if it is a collector id (`c_…`), else raise InvalidId."""
    return _validate(value, COLLECTOR_ID_PATTERN, "collector id", COLLECTOR_ID_EXPECTED)


__all__ = [
    "COLLECTOR_ID_PATTERN",
    "ID_BODY_MAX",
    "JOB_ID_PATTERN",
    "InvalidId",
    "is_collector_id",
    "is_job_id",
    "validate_collector_id",
    "validate_job_id",
]
