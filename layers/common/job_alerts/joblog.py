"""The typed, immutable view of one Bright Data `/dca/log/{job_id}` answer, and the parser that
reads it field by field: what can be judged is judged, every odd field is named on the JobLog,
and only an answer with nothing to judge is refused (JobLogError)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypeVar

from job_alerts.ids import (
    COLLECTOR_ID_EXPECTED,
    JOB_ID_EXPECTED,
    is_collector_id,
    is_job_id,
    preview,
)
from job_alerts.timeutil import parse_moment

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
_STATUS_ALIASES: Mapping[str, JobStatus] = MappingProxyType(
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


_COUNT_KEYS = (
    "inputs",
    "success",
    "fails",
    "lines",
    "pages",
    "pages_left",
    "dup_inputs",
    "navigations",
)
_DURATION_KEYS = ("job_time", "queue_time")
_TIME_KEYS = ("created", "started", "finished")
_KNOWN_KEYS = frozenset(
    {"id", "status", "collector", "template", "trigger", "success_rate"}.union(
        _COUNT_KEYS, _DURATION_KEYS, _TIME_KEYS
    )
)

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


class _OddFieldError(ValueError):
    """A field whose value cannot be used; the message is a FieldProblem.problem."""


@dataclass(frozen=True, eq=False)
class _Spellings:
    """A known key given in several spellings (the API mixes `Fails` and `fails`)."""

    given: tuple[tuple[str, Any], ...]


_T = TypeVar("_T")


def _preview(value: Any) -> str:
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


def _unreadable(expected: str, value: Any) -> _OddFieldError:
    return _OddFieldError(f"unreadable: expected {expected}, got {_preview(value)}")


def _number(value: Any) -> float | int | None:
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


def _count(value: Any) -> int | None:
    number = _number(value)
    if number is None:
        return None
    if isinstance(number, float):
        if not number.is_integer():
            raise _unreadable("a whole number", value)
        number = int(number)
    if not 0 <= number <= _MAX_COUNT:
        raise _unreadable(f"a count from 0 to {_MAX_COUNT:.0e}", value)
    return number


def _fraction(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    if not 0 <= number <= 1:
        raise _unreadable("a rate from 0 to 1", value)
    return float(number)


def _reported_rate(value: Any) -> float | None:
    """Success_rate as a fraction: a number in [0, 1] is one already; above 1 and up to 100,
    or any number followed by '%', it is a percent."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _number(value.strip()[:-1])
        if number is None:
            raise _unreadable("a percent", value)
        is_percent = True
    else:
        number = _number(value)
        if number is None:
            return None
        is_percent = number > 1
    if not 0 <= number <= 100:
        raise _OddFieldError(
            f"out of range: {_preview(value)} is neither a rate (0-1) nor a percent"
        )
    return number / 100 if is_percent else float(number)


def _duration_ms(value: Any) -> timedelta | None:
    number = _number(value)
    if number is None:
        return None
    if number < 0:
        raise _unreadable("milliseconds >= 0", value)
    try:
        # Whole milliseconds, so to_dict/from_dict round-trips exactly.
        return timedelta(milliseconds=round(number))
    except OverflowError:
        raise _unreadable("a duration in milliseconds", value) from None


def _moment(value: Any) -> datetime | None:
    try:
        return parse_moment(value)
    except (ValueError, OverflowError):
        raise _unreadable("a time (ISO-8601, epoch seconds or milliseconds)", value) from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _unreadable("text", value)
    text = value.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise _OddFieldError(f"too long: {len(text)} characters, at most {MAX_TEXT_CHARS}")
    return text or None


def _collector_id(value: Any) -> str | None:
    # Alarms are kept per collector: an id that is not one must not become a key.
    text = _text(value)
    if text is not None and not is_collector_id(text):
        raise _unreadable(f"a collector id ({COLLECTOR_ID_EXPECTED})", value)
    return text


def _trigger(value: Any) -> str | None:
    # /dca/log gives the trigger as a user string; the jobs listing gives
    # {type, user, ip}. Keep who (or what) triggered it, never the IP.
    if isinstance(value, Mapping):
        for key in ("user", "type"):
            candidate = value.get(key)
            if isinstance(candidate, str) and candidate.strip():
                return _text(candidate)
        return None
    return _text(value)


def _status(value: Any) -> tuple[JobStatus, str] | None:
    """The status and its raw text as given; None when there is none (absent or blank)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _unreadable("text", value)
    if len(value) > MAX_TEXT_CHARS:
        raise _OddFieldError(f"too long: {len(value)} characters, at most {MAX_TEXT_CHARS}")
    if not value.strip():
        return None
    return _STATUS_ALIASES.get(value.strip().lower(), JobStatus.UNKNOWN), value


def _percent(rate: float) -> str:
    return f"{round(rate * 100, 2):g}%"


def _short_problem(text: str) -> str:
    if len(text) <= MAX_PROBLEM_CHARS:
        return text
    return text[: MAX_PROBLEM_CHARS - 3] + "..."


def _read_value(raw: Any, reader: Callable[[Any], _T | None]) -> _T | None:
    """`reader(raw)`; a field given in several spellings is read when they all say the same."""
    if not isinstance(raw, _Spellings):
        return reader(raw)
    try:
        readings = [reader(value) for _, value in raw.given]
    except _OddFieldError:
        readings = []
    if readings and all(reading == readings[0] for reading in readings):
        return readings[0]
    spellings = ", ".join(preview(key) for key, _ in raw.given[:2])
    raise _OddFieldError(f"unreadable: given twice with different values ({spellings})")


class _FieldReader:
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
            return _read_value(self._get(name), reader)
        except _OddFieldError as odd:
            if not self._lenient:
                raise JobLogError(name, str(odd)) from None
            self.add(name, str(odd), judged)
            return None

    def add(self, name: str, problem: str, judged: Judged) -> None:
        self.problems.append(FieldProblem(name, _short_problem(problem), judged))

    def shared_fields(self, duration_suffix: str) -> dict[str, Any]:
        """The JobLog fields the API answer and the stored form spell alike (durations named
        with `duration_suffix`)."""
        fields: dict[str, Any] = {name: self.read(name, _count) for name in _COUNT_KEYS}
        for name in _DURATION_KEYS:
            fields[name] = self.read(name + duration_suffix, _duration_ms)
        for name in _TIME_KEYS:
            fields[name] = self.read(name, _moment)
        fields["template"] = self.read("template", _text)
        return fields


def _judged_rate(reader: _FieldReader, inputs: int | None, success: int | None) -> float | None:
    """The success rate to judge: the reported one when it agrees with Success/Inputs (within
    RATE_AGREEMENT_TOLERANCE) or there are no counts to check it against; else the counts."""
    # Success can exceed Inputs when duplicates are counted; a rate stays <= 100%.
    computed = min(1.0, success / inputs) if success is not None and inputs else None
    fallback = Judged.WITHOUT_IT if computed is None else Judged.ON_COUNTS
    reported = reader.read("success_rate", _reported_rate, fallback)
    if reported is None or computed is None:
        return computed if reported is None else reported
    # The reported figure is what Bright Data's own panel shows, so alerts quote it when true.
    if abs(reported - computed) <= RATE_AGREEMENT_TOLERANCE + 1e-9:
        return reported
    reader.add(
        "success_rate",
        f"says {_percent(reported)}, but Success/Inputs = {success}/{inputs}",
        Judged.ON_COUNTS,
    )
    return computed


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


def _bounded_extra(entries: Iterable[tuple[str, Any]], omitted: int = 0) -> Mapping[str, Any]:
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


# Kept as the stored format always was (microseconds only when present), not timeutil.iso's
# milliseconds: stored logs and fingerprints of unchanged jobs must stay byte-identical.
def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _ms(duration: timedelta | None) -> int | None:
    return None if duration is None else round(duration / timedelta(milliseconds=1))


@dataclass(frozen=True)
class JobLog:
    """One job as `/dca/log` described it. Missing or unreadable values are None, never 0: a
    monitor must tell "no failures" from "not reported". `problems` names each field that was
    not used as given; `notes` says it in sentences."""

    job_id: str
    status: JobStatus
    raw_status: str | None = None
    collector_id: str | None = None
    inputs: int | None = None
    success: int | None = None
    fails: int | None = None
    lines: int | None = None
    pages: int | None = None
    pages_left: int | None = None
    dup_inputs: int | None = None
    navigations: int | None = None
    success_rate: float | None = None
    job_time: timedelta | None = None
    queue_time: timedelta | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    template: str | None = None
    trigger: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    problems: tuple[FieldProblem, ...] = ()

    @property
    def settled(self) -> bool:
        """Finished for good. A missing or unrecognised status with a `finished` time counts
        as settled (field report: a job came back with no status but with results)."""
        if self.status in TERMINAL_STATUSES:
            return True
        return self.status is JobStatus.UNKNOWN and self.finished is not None

    @property
    def fail_ratio(self) -> float | None:
        if self.fails is None or not self.inputs:
            return None
        return self.fails / self.inputs

    @property
    def notes(self) -> tuple[str, ...]:
        """Plain-text sentences for an alert about what was odd in the answer and how the job
        was judged anyway; empty when nothing was. Values inside are escaped ASCII previews,
        but a renderer still escapes its own markup (&, <, > for Slack)."""
        notes = [problem.note for problem in self.problems]
        if self.status is JobStatus.UNKNOWN and self.raw_status is not None:
            notes.insert(
                0, f"unknown status {preview(self.raw_status.strip())}: judged on its counts"
            )
        return tuple(notes)

    def fingerprint(self) -> str:
        """Short digest of what the monitor acts on; equal digests mean nothing changed."""
        material: list[Any] = [
            self.status.value,
            self.raw_status,
            self.inputs,
            self.success,
            self.fails,
            self.lines,
            self.pages,
            self.pages_left,
            _iso(self.finished),
        ]
        if self.problems:
            # Only when there are some, so a clean job keeps the digest it always had.
            material.append(sorted({problem.field for problem in self.problems}))
        encoded = json.dumps(material, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (ISO-8601 strings, whole milliseconds) that from_dict rebuilds; its
        JSON is at most MAX_STORED_CHARS long. `problems` appears only when there are some."""
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "collector_id": self.collector_id,
            "status": self.status.value,
            "raw_status": self.raw_status,
            **{name: getattr(self, name) for name in _COUNT_KEYS},
            "success_rate": self.success_rate,
            "job_time_ms": _ms(self.job_time),
            "queue_time_ms": _ms(self.queue_time),
            **{name: _iso(getattr(self, name)) for name in _TIME_KEYS},
            "template": self.template,
            "trigger": self.trigger,
            "extra": copy.deepcopy(dict(self.extra)),
        }
        if self.problems:
            data["problems"] = [problem.to_dict() for problem in self.problems]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> JobLog:
        """Rebuild a JobLog stored with to_dict (e.g. from DynamoDB). Raises JobLogError on
        any field to_dict would not have written."""
        if not isinstance(data, Mapping):
            raise JobLogError("payload", f"expected an object, got {_preview(data)}")
        reader = _FieldReader(data.get, lenient=False)
        job_id = reader.read("job_id", _text)
        if job_id is None:
            raise JobLogError("job_id", "missing")
        try:
            status = JobStatus(str(data.get("status")))
        except ValueError:
            raise JobLogError(
                "status", f"unknown stored status {_preview(data.get('status'))}"
            ) from None
        raw_status = data.get("raw_status")
        if raw_status is not None and not isinstance(raw_status, str):
            raise JobLogError("raw_status", f"expected text, got {_preview(raw_status)}")
        return JobLog(
            job_id=job_id,
            status=status,
            raw_status=raw_status,
            collector_id=reader.read("collector_id", _collector_id),
            success_rate=reader.read("success_rate", _fraction),
            trigger=reader.read("trigger", _text),
            extra=_stored_extra(data.get("extra")),
            problems=_stored_problems(data.get("problems")),
            **reader.shared_fields("_ms"),
        )


def _stored_extra(value: Any) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise JobLogError("extra", f"expected an object, got {_preview(value)}")
    omitted = value.get(EXTRA_OMITTED_KEY, 0)
    if isinstance(omitted, bool) or not isinstance(omitted, int) or omitted < 0:
        raise JobLogError("extra", f"{EXTRA_OMITTED_KEY} is not a count: {_preview(omitted)}")
    entries = ((key, item) for key, item in value.items() if key != EXTRA_OMITTED_KEY)
    return _bounded_extra(entries, omitted)


def _stored_problems(value: Any) -> tuple[FieldProblem, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_PROBLEMS:
        raise JobLogError("problems", f"expected at most {MAX_PROBLEMS} problems")
    problems = []
    for item in value:
        if not isinstance(item, Mapping):
            raise JobLogError("problems", f"expected an object, got {_preview(item)}")
        name, problem = item.get("field"), item.get("problem")
        if not isinstance(name, str) or name not in _KNOWN_KEYS:
            raise JobLogError("problems", f"not a known field: {_preview(name)}")
        if not isinstance(problem, str) or len(problem) > MAX_PROBLEM_CHARS:
            raise JobLogError("problems", f"not a short text: {_preview(problem)}")
        try:
            judged = Judged(str(item.get("judged")))
        except ValueError:
            raise JobLogError(
                "problems", f"unknown judgement {_preview(item.get('judged'))}"
            ) from None
        problems.append(FieldProblem(name, problem, judged))
    return tuple(problems)


def _split_keys(payload: Mapping[Any, Any]) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Known fields by lower-case name (`Fails`, `fails` and ` FAILS ` are one field; several
    spellings are kept as _Spellings, to be read only when they agree), and the unknown ones
    under their original spelling."""
    spelled: dict[str, list[tuple[str, Any]]] = {}
    unknown: list[tuple[str, Any]] = []
    for key, value in payload.items():
        if not isinstance(key, str):
            raise JobLogError("payload", f"keys must be text, got {_preview(key)}")
        name = key.strip().lower()
        if name in _KNOWN_KEYS:
            spelled.setdefault(name, []).append((key, value))
        else:
            unknown.append((key, value))
    known = {
        name: given[0][1] if len(given) == 1 else _Spellings(tuple(given))
        for name, given in spelled.items()
    }
    return known, unknown


def _job_id(given: Any, asked: str | None) -> str:
    try:
        given_id = _read_value(given, _text)
        asked_id = _text(asked)
    except _OddFieldError as odd:
        raise JobLogError("id", str(odd)) from None
    if given_id and asked_id and given_id != asked_id:
        # A mixed-up answer would pin another job's numbers on this one.
        raise JobLogError("id", f"answer is for {preview(given_id)}, not for {preview(asked_id)}")
    resolved = given_id or asked_id
    if not resolved:
        raise JobLogError("id", "missing: no Id in the answer and no job_id given")
    if not is_job_id(resolved):
        raise JobLogError("id", f"expected {JOB_ID_EXPECTED}, got {preview(resolved)}")
    return resolved


def parse_job_log(payload: Any, *, job_id: str | None = None) -> JobLog:
    """Parse a `/dca/log/{job_id}` answer, field by field. `job_id` is the id that was asked for:
    it fills a missing `Id` and must agree with a present one. Keys match in any case.

    An odd field (wrong type, unreadable or implausible value, two spellings that disagree)
    becomes None and a FieldProblem on the JobLog; the rest is judged. A Success_rate the counts
    contradict is replaced by Success/Inputs, with a FieldProblem saying so. An unknown status
    is JobStatus.UNKNOWN with its raw text kept.

    Raises JobLogError, and nothing else, only when the answer cannot be judged at all:
    - it is not a JSON object (a mapping with text keys): field "payload";
    - whose job it is is unclear: `Id` unreadable, longer than MAX_TEXT_CHARS, given twice with
      different values or different from `job_id`, or neither gives an id: field "id";
    - it has nothing to judge: no status (absent, blank or unreadable) and no readable count
      (Inputs, Success, Fails, Lines, Pages, Pages_left, dup_inputs, Navigations) and no readable
      Success_rate: field "payload". A job with no status but counts is judged on its counts
      (field report: a job came back with no status but failed pages)."""
    if not isinstance(payload, Mapping):
        raise JobLogError("payload", f"expected a JSON object, got {_preview(payload)}")
    known, unknown = _split_keys(payload)
    resolved_id = _job_id(known.get("id"), job_id)
    reader = _FieldReader(known.get, lenient=True)
    status_read = reader.read("status", _status, Judged.ON_COUNTS)
    shared = reader.shared_fields("")
    success_rate = _judged_rate(reader, shared["inputs"], shared["success"])
    counted = any(shared[name] is not None for name in _COUNT_KEYS)
    if status_read is None and success_rate is None and not counted:
        odd = ", ".join(problem.field for problem in reader.problems)
        raise JobLogError(
            "payload",
            "nothing to judge: no status and no readable count"
            + (f" (unreadable: {odd})" if odd else ""),
        )
    status, raw_status = status_read or (JobStatus.UNKNOWN, None)
    collector_id = reader.read("collector", _collector_id)
    trigger = reader.read("trigger", _trigger)
    return JobLog(
        job_id=resolved_id,
        status=status,
        raw_status=raw_status,
        collector_id=collector_id,
        success_rate=success_rate,
        trigger=trigger,
        extra=_bounded_extra(unknown),
        problems=tuple(reader.problems),
        **shared,
    )
