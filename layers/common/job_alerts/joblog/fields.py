"""Reading one field of a job log: each value checked and converted on its own (numbers, counts,
rates, durations, times, text, ids, status), a key given in several spellings read only when
they agree, and the unknown fields kept within bounds. An odd value raises OddFieldError, which
FieldReader turns into a FieldProblem (an API answer) or a JobLogError (a stored JobLog)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from job_alerts.ids import COLLECTOR_ID_EXPECTED, is_collector_id
from job_alerts.joblog.schema import (
    COUNT_KEYS,
    DURATION_KEYS,
    EXTRA_OMITTED_KEY,
    MAX_EXTRA_CHARS,
    MAX_EXTRA_KEY_CHARS,
    MAX_EXTRA_KEYS,
    MAX_EXTRA_VALUE_CHARS,
    MAX_PROBLEM_CHARS,
    MAX_TEXT_CHARS,
    STATUS_ALIASES,
    TIME_KEYS,
    FieldProblem,
    JobLogError,
    JobStatus,
    Judged,
)
from job_alerts.text import preview
from job_alerts.timeutil import parse_moment

__all__ = [
    "FieldReader",
    "OddFieldError",
    "Spellings",
    "as_collector_id",
    "as_fraction",
    "as_reported_rate",
    "as_status",
    "as_text",
    "as_trigger",
    "bounded_extra",
    "preview_value",
    "read_value",
]

# ASCII only: float() would also take "1_000" or non-Latin digits, which no API sends.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")

# No real job has more inputs/lines than this; larger values are corrupt data, and keeping
# counts bounded keeps every ratio computable as a float.
_MAX_COUNT = 10**15
# Integers beyond this are previewed by size only (str() of a huge int is slow, or refused).
_PREVIEW_INT_LIMIT = 10**30
# Head of a too-long extra value's JSON kept in its truncated form; JSON-escaping the head can
# at most double it, which keeps the truncated form within MAX_EXTRA_VALUE_CHARS.
_TRUNCATED_HEAD = 100
# Room kept in MAX_EXTRA_CHARS for the EXTRA_OMITTED_KEY entry and the braces.
_EXTRA_ENTRIES_BUDGET = MAX_EXTRA_CHARS - len(json.dumps({EXTRA_OMITTED_KEY: _MAX_COUNT})) - 2
# Separators json.dumps writes around one entry of an object: '": "' and '", "'.
_ENTRY_OVERHEAD = 4


class OddFieldError(ValueError):
    """A field whose value cannot be used; the message is a FieldProblem.problem."""


@dataclass(frozen=True, eq=False)
class Spellings:
    """A known key given in several spellings (the API mixes `Fails` and `fails`)."""

    given: tuple[tuple[str, Any], ...]


_T = TypeVar("_T")


def preview_value(value: Any) -> str:
    """A short, escaped, ASCII rendering of any JSON value; containers by kind only."""
    if isinstance(value, str):
        return preview(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if abs(value) < _PREVIEW_INT_LIMIT else "a huge number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _unreadable(expected: str, value: Any) -> OddFieldError:
    return OddFieldError(f"unreadable: expected {expected}, got {preview_value(value)}")


# ---- one value ------------------------------------------------------------------------------
def _as_number(value: Any) -> float | int | None:
    """JSON numbers and numeric strings (the API sometimes quotes them); not booleans,
    containers, NaN/infinity or text that is not a number. "" counts as absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _unreadable("a number", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _unreadable("a finite number", value)
        return value
    text = value.strip()
    if not text:
        return None
    if _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if not _DECIMAL_TEXT.fullmatch(text):
        raise _unreadable("a number", value)
    number = float(text)
    if not math.isfinite(number):
        raise _unreadable("a finite number", value)
    return number


def _as_count(value: Any) -> int | None:
    number = _as_number(value)
    if number is None:
        return None
    if isinstance(number, float):
        if not number.is_integer():
            raise _unreadable("a whole number", value)
        number = int(number)
    if not 0 <= number <= _MAX_COUNT:
        raise _unreadable(f"a count from 0 to {_MAX_COUNT:.0e}", value)
    return number


def as_fraction(value: Any) -> float | None:
    number = _as_number(value)
    if number is None:
        return None
    if not 0 <= number <= 1:
        raise _unreadable("a rate from 0 to 1", value)
    return float(number)


def as_reported_rate(value: Any) -> float | None:
    """Success_rate as a fraction: a number in [0, 1] is one already; above 1 and up to 100,
    or any number followed by '%', it is a percent."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _as_number(value.strip()[:-1])
        if number is None:
            raise _unreadable("a percent", value)
        is_percent = True
    else:
        number = _as_number(value)
        if number is None:
            return None
        is_percent = number > 1
    if not 0 <= number <= 100:
        raise OddFieldError(
            f"out of range: {preview_value(value)} is neither a rate (0-1) nor a percent"
        )
    return number / 100 if is_percent else float(number)


def _as_duration_ms(value: Any) -> timedelta | None:
    number = _as_number(value)
    if number is None:
        return None
    if number < 0:
        raise _unreadable("milliseconds >= 0", value)
    try:
        # Whole milliseconds, so to_dict/from_dict round-trips exactly.
        return timedelta(milliseconds=round(number))
    except OverflowError:
        raise _unreadable("a duration in milliseconds", value) from None


def _as_moment(value: Any) -> datetime | None:
    try:
        return parse_moment(value)
    except (ValueError, OverflowError):
        raise _unreadable("a time (ISO-8601, epoch seconds or milliseconds)", value) from None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _unreadable("text", value)
    text = value.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise OddFieldError(f"too long: {len(text)} characters, at most {MAX_TEXT_CHARS}")
    return text or None


def as_collector_id(value: Any) -> str | None:
    # Alarms are kept per collector: an id that is not one must not become a key.
    text = as_text(value)
    if text is not None and not is_collector_id(text):
        raise _unreadable(f"a collector id ({COLLECTOR_ID_EXPECTED})", value)
    return text


def as_trigger(value: Any) -> str | None:
    # /dca/log gives the trigger as a user string; the jobs listing gives
    # {type, user, ip}. Keep who (or what) triggered it, never the IP.
    if isinstance(value, Mapping):
        for key in ("user", "type"):
            candidate = value.get(key)
            if isinstance(candidate, str) and candidate.strip():
                return as_text(candidate)
        return None
    return as_text(value)


def as_status(value: Any) -> tuple[JobStatus, str] | None:
    """The status and its raw text as given; None when there is none (absent or blank)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _unreadable("text", value)
    if len(value) > MAX_TEXT_CHARS:
        raise OddFieldError(f"too long: {len(value)} characters, at most {MAX_TEXT_CHARS}")
    if not value.strip():
        return None
    return STATUS_ALIASES.get(value.strip().lower(), JobStatus.UNKNOWN), value


# ---- one field ------------------------------------------------------------------------------
def read_value(raw: Any, reader: Callable[[Any], _T | None]) -> _T | None:
    """`reader(raw)`; a field given in several spellings is read when they all say the same."""
    if not isinstance(raw, Spellings):
        return reader(raw)
    try:
        readings = [reader(value) for _, value in raw.given]
    except OddFieldError:
        readings = []
    if readings and all(reading == readings[0] for reading in readings):
        return readings[0]
    spellings = ", ".join(preview(key) for key, _ in raw.given[:2])
    raise OddFieldError(f"unreadable: given twice with different values ({spellings})")


def _short_problem(text: str) -> str:
    if len(text) <= MAX_PROBLEM_CHARS:
        return text
    return text[: MAX_PROBLEM_CHARS - 3] + "..."


class FieldReader:
    """Reads fields one at a time. Leniently (an API answer) an odd field becomes None and a
    FieldProblem; strictly (a stored JobLog: to_dict wrote values already read) it is a
    JobLogError naming the field."""

    def __init__(self, get: Callable[[str], Any], *, lenient: bool) -> None:
        self._get = get
        self._lenient = lenient
        self.problems: list[FieldProblem] = []

    def read(
        self, name: str, reader: Callable[[Any], _T | None], judged: Judged = Judged.WITHOUT_IT
    ) -> _T | None:
        try:
            return read_value(self._get(name), reader)
        except OddFieldError as odd:
            if not self._lenient:
                raise JobLogError(name, str(odd)) from None
            self.add(name, str(odd), judged)
            return None

    def add(self, name: str, problem: str, judged: Judged) -> None:
        self.problems.append(FieldProblem(name, _short_problem(problem), judged))

    def shared_fields(self, duration_suffix: str) -> dict[str, Any]:
        """The JobLog fields the API answer and the stored form spell alike (durations named
        with `duration_suffix`)."""
        fields: dict[str, Any] = {name: self.read(name, _as_count) for name in COUNT_KEYS}
        for name in DURATION_KEYS:
            fields[name] = self.read(name + duration_suffix, _as_duration_ms)
        for name in TIME_KEYS:
            fields[name] = self.read(name, _as_moment)
        fields["template"] = self.read("template", as_text)
        return fields


# ---- the unknown fields ---------------------------------------------------------------------
def _bounded_key(key: str) -> str:
    if len(key) <= MAX_EXTRA_KEY_CHARS:
        return key
    return key[: MAX_EXTRA_KEY_CHARS - 3] + "..."


def _bounded_value(value: Any) -> tuple[Any, int]:
    """A detached copy of an unknown field's value and the length of its JSON; a value whose
    JSON is longer than MAX_EXTRA_VALUE_CHARS becomes a string that says it was cut."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        stored: Any = f"[not storable as JSON: {type(value).__name__}]"
    else:
        if len(text) <= MAX_EXTRA_VALUE_CHARS:
            return json.loads(text), len(text)
        stored = f"{text[:_TRUNCATED_HEAD]}...[truncated: {len(text)} characters of JSON]"
    return stored, len(json.dumps(stored))


def bounded_extra(entries: Iterable[tuple[str, Any]], omitted: int = 0) -> Mapping[str, Any]:
    """At most MAX_EXTRA_KEYS unknown fields whose JSON fits MAX_EXTRA_CHARS, in the order
    given, plus EXTRA_OMITTED_KEY counting the ones left out. Bounding a bounded map again
    gives the same map, so from_dict(to_dict()) round-trips."""
    kept: dict[str, Any] = {}
    used = 0
    for key, value in entries:
        name = _bounded_key(key)
        if name in kept or name == EXTRA_OMITTED_KEY or len(kept) >= MAX_EXTRA_KEYS:
            omitted += 1
            continue
        stored, size = _bounded_value(value)
        cost = len(json.dumps(name)) + size + _ENTRY_OVERHEAD
        if used + cost > _EXTRA_ENTRIES_BUDGET:
            omitted += 1
            continue
        kept[name] = stored
        used += cost
    if omitted:
        kept[EXTRA_OMITTED_KEY] = min(omitted, _MAX_COUNT)
    return MappingProxyType(kept)
