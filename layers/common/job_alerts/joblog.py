"""The typed, immutable view of one Bright Data `/dca/log/{job_id}` answer, and the parser
that turns the API's loosely typed JSON into it (or refuses it with JobLogError)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["TERMINAL_STATUSES", "JobLog", "JobLogError", "JobStatus", "parse_job_log"]


class JobLogError(ValueError):
    """A `/dca/log` answer that cannot be trusted; `field` names the offending key."""

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


def _number(field: str, value: Any) -> float | int | None:
    """Accept JSON numbers and numeric strings (the API sometimes quotes them); refuse
    booleans, containers, NaN/infinity and text that is not a number. "" counts as absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise JobLogError(field, f"expected a number, got boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JobLogError(field, f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _INTEGER_TEXT.fullmatch(text):
            return int(text)
        if not _DECIMAL_TEXT.fullmatch(text):
            raise JobLogError(field, f"expected a number, got {_short(value)}")
        number = float(text)
        if not math.isfinite(number):
            raise JobLogError(field, f"expected a finite number, got {_short(value)}")
        return number
    raise JobLogError(field, f"expected a number, got {type(value).__name__}")


def _count(field: str, value: Any) -> int | None:
    number = _number(field, value)
    if number is None:
        return None
    if isinstance(number, float):
        if not number.is_integer():
            raise JobLogError(field, f"expected a whole number, got {number!r}")
        number = int(number)
    if number < 0:
        raise JobLogError(field, f"expected a count >= 0, got {number}")
    if number > _MAX_COUNT:
        raise JobLogError(field, f"count above {_MAX_COUNT:.0e} is implausible")
    return number


def _rate(field: str, value: Any) -> float | None:
    number = _number(field, value)
    if number is None:
        return None
    if not 0 <= number <= 1:
        raise JobLogError(field, f"expected a rate between 0 and 1, got {number!r}")
    return float(number)


def _duration_ms(field: str, value: Any) -> timedelta | None:
    number = _number(field, value)
    if number is None:
        return None
    if number < 0:
        raise JobLogError(field, f"expected milliseconds >= 0, got {number!r}")
    try:
        # Whole milliseconds, so to_dict/from_dict round-trips exactly.
        return timedelta(milliseconds=round(number))
    except OverflowError:
        raise JobLogError(field, f"duration out of range: {number!r}") from None


def _timestamp(field: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise JobLogError(field, f"expected an ISO-8601 timestamp, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
        # The API writes UTC; a timestamp without an offset is read as UTC too.
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise JobLogError(field, f"expected an ISO-8601 timestamp, got {_short(value)}") from None


def _text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise JobLogError(field, f"expected a string, got {type(value).__name__}")
    return value.strip() or None


def _trigger(value: Any) -> str | None:
    # /dca/log gives the trigger as a user string; the jobs listing gives
    # {type, user, ip}. Keep who (or what) triggered it, never the IP.
    if isinstance(value, Mapping):
        for key in ("user", "type"):
            candidate = value.get(key)
            if isinstance(candidate, str) and candidate.strip():
                return candidate.strip()
        return None
    return _text("trigger", value)


def _status(value: Any) -> tuple[JobStatus, str | None]:
    if value is None:
        return JobStatus.UNKNOWN, None
    if not isinstance(value, str):
        raise JobLogError("status", f"expected a string, got {type(value).__name__}")
    if not value.strip():
        return JobStatus.UNKNOWN, None
    return _STATUS_ALIASES.get(value.strip().lower(), JobStatus.UNKNOWN), value


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fold_keys(payload: Mapping[Any, Any]) -> dict[str, tuple[str, Any]]:
    """Lower-case the keys (the API mixes `Fails` and `fails`), remembering the original
    spelling for `extra`. Two spellings with different values are refused: which one is
    true cannot be known."""
    folded: dict[str, tuple[str, Any]] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            raise JobLogError("payload", f"keys must be strings, got {type(key).__name__}")
        name = key.strip().lower()
        if name in folded and folded[name][1] != value:
            raise JobLogError(name, f"given twice with different values ({folded[name][0]}, {key})")
        folded.setdefault(name, (key, value))
    return folded


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _ms(duration: timedelta | None) -> int | None:
    return None if duration is None else round(duration / timedelta(milliseconds=1))


@dataclass(frozen=True)
class JobLog:
    """One job as `/dca/log` described it. Missing values are None, never 0: a monitor
    must tell "no failures" from "not reported"."""

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

    def fingerprint(self) -> str:
        """Short digest of what the monitor acts on; equal digests mean nothing changed."""
        material = [
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
        encoded = json.dumps(material, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (ISO-8601 strings, whole milliseconds) that from_dict rebuilds."""
        return {
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

    @classmethod
    def from_dict(cls, data: Any) -> JobLog:
        """Rebuild a JobLog stored with to_dict (e.g. from DynamoDB). Raises JobLogError."""
        if not isinstance(data, Mapping):
            raise JobLogError("payload", f"expected an object, got {type(data).__name__}")
        job_id = _text("job_id", data.get("job_id"))
        if job_id is None:
            raise JobLogError("job_id", "missing")
        try:
            status = JobStatus(str(data.get("status")))
        except ValueError:
            raise JobLogError(
                "status", f"unknown stored status {_short(data.get('status'))}"
            ) from None
        raw_status = data.get("raw_status")
        if raw_status is not None and not isinstance(raw_status, str):
            raise JobLogError("raw_status", f"expected a string, got {type(raw_status).__name__}")
        extra = data.get("extra")
        if extra is None:
            extra = {}
        if not isinstance(extra, Mapping):
            raise JobLogError("extra", f"expected an object, got {type(extra).__name__}")
        return _assemble(
            data.get,
            job_id=job_id,
            status=status,
            raw_status=raw_status,
            collector_id=_text("collector_id", data.get("collector_id")),
            trigger=_text("trigger", data.get("trigger")),
            duration_suffix="_ms",
            extra=extra,
        )


def _assemble(
    get: Callable[[str], Any],
    *,
    job_id: str,
    status: JobStatus,
    raw_status: str | None,
    collector_id: str | None,
    trigger: str | None,
    duration_suffix: str,
    extra: Mapping[str, Any],
) -> JobLog:
    """Build a JobLog from the fields both the API answer and the stored form share
    (lower-case names; durations named with `duration_suffix`)."""
    inputs = _count("inputs", get("inputs"))
    success = _count("success", get("success"))
    success_rate = _rate("success_rate", get("success_rate"))
    if success_rate is None and success is not None and inputs:
        # Success can exceed Inputs when duplicates are counted; a rate stays <= 100%.
        success_rate = min(1.0, success / inputs)
    job_time_key = "job_time" + duration_suffix
    queue_time_key = "queue_time" + duration_suffix
    return JobLog(
        job_id=job_id,
        status=status,
        raw_status=raw_status,
        collector_id=collector_id,
        inputs=inputs,
        success=success,
        fails=_count("fails", get("fails")),
        lines=_count("lines", get("lines")),
        pages=_count("pages", get("pages")),
        pages_left=_count("pages_left", get("pages_left")),
        dup_inputs=_count("dup_inputs", get("dup_inputs")),
        navigations=_count("navigations", get("navigations")),
        success_rate=success_rate,
        job_time=_duration_ms(job_time_key, get(job_time_key)),
        queue_time=_duration_ms(queue_time_key, get(queue_time_key)),
        created=_timestamp("created", get("created")),
        started=_timestamp("started", get("started")),
        finished=_timestamp("finished", get("finished")),
        template=_text("template", get("template")),
        trigger=trigger,
        extra=MappingProxyType(copy.deepcopy(dict(extra))),
    )


def parse_job_log(payload: Any, *, job_id: str | None = None) -> JobLog:
    """Parse a `/dca/log/{job_id}` answer. `job_id` is the id that was asked for: it fills a
    missing `Id` and must agree with a present one. Raises only JobLogError."""
    if not isinstance(payload, Mapping):
        raise JobLogError("payload", f"expected a JSON object, got {type(payload).__name__}")
    folded = _fold_keys(payload)

    def value(name: str) -> Any:
        return folded.get(name, (name, None))[1]

    given_id = _text("id", value("id"))
    asked_id = job_id.strip() if job_id else None
    if given_id and asked_id and given_id != asked_id:
        # A mixed-up answer would pin another job's numbers on this one.
        raise JobLogError("id", f"answer is for {_short(given_id)}, not for {_short(asked_id)}")
    resolved_id = given_id or asked_id
    if not resolved_id:
        raise JobLogError("id", "missing: no Id in the answer and no job_id given")

    status, raw_status = _status(value("status"))
    extra = {original: raw for name, (original, raw) in folded.items() if name not in _KNOWN_KEYS}
    return _assemble(
        value,
        job_id=resolved_id,
        status=status,
        raw_status=raw_status,
        collector_id=_text("collector", value("collector")),
        trigger=_trigger(value("trigger")),
        duration_suffix="",
        extra=extra,
    )
