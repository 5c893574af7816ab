"""JobLog: the typed, immutable view of one job as `/dca/log` described it, and its stored form
(to_dict, and from_dict that rebuilds it strictly)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from job_alerts.joblog.fields import (
    FieldReader,
    as_collector_id,
    as_fraction,
    as_text,
    bounded_extra,
    preview_value,
)
from job_alerts.joblog.schema import (
    COUNT_KEYS,
    EXTRA_OMITTED_KEY,
    KNOWN_KEYS,
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    TERMINAL_STATUSES,
    TIME_KEYS,
    FieldProblem,
    JobLogError,
    JobStatus,
    Judged,
)
from job_alerts.text import preview

__all__ = ["JobLog"]


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
            **{name: getattr(self, name) for name in COUNT_KEYS},
            "success_rate": self.success_rate,
            "job_time_ms": _ms(self.job_time),
            "queue_time_ms": _ms(self.queue_time),
            **{name: _iso(getattr(self, name)) for name in TIME_KEYS},
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
            raise JobLogError("payload", f"expected an object, got {preview_value(data)}")
        reader = FieldReader(data.get, lenient=False)
        job_id = reader.read("job_id", as_text)
        if job_id is None:
            raise JobLogError("job_id", "missing")
        try:
            status = JobStatus(str(data.get("status")))
        except ValueError:
            raise JobLogError(
                "status", f"unknown stored status {preview_value(data.get('status'))}"
            ) from None
        raw_status = data.get("raw_status")
        if raw_status is not None and not isinstance(raw_status, str):
            raise JobLogError("raw_status", f"expected text, got {preview_value(raw_status)}")
        return JobLog(
            job_id=job_id,
            status=status,
            raw_status=raw_status,
            collector_id=reader.read("collector_id", as_collector_id),
            success_rate=reader.read("success_rate", as_fraction),
            trigger=reader.read("trigger", as_text),
            extra=_stored_extra(data.get("extra")),
            problems=_stored_problems(data.get("problems")),
            **reader.shared_fields("_ms"),
        )


def _stored_extra(value: Any) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise JobLogError("extra", f"expected an object, got {preview_value(value)}")
    omitted = value.get(EXTRA_OMITTED_KEY, 0)
    if isinstance(omitted, bool) or not isinstance(omitted, int) or omitted < 0:
        raise JobLogError("extra", f"{EXTRA_OMITTED_KEY} is not a count: {preview_value(omitted)}")
    entries = ((key, item) for key, item in value.items() if key != EXTRA_OMITTED_KEY)
    return bounded_extra(entries, omitted)


def _stored_problems(value: Any) -> tuple[FieldProblem, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_PROBLEMS:
        raise JobLogError("problems", f"expected at most {MAX_PROBLEMS} problems")
    problems = []
    for item in value:
        if not isinstance(item, Mapping):
            raise JobLogError("problems", f"expected an object, got {preview_value(item)}")
        name, problem = item.get("field"), item.get("problem")
        if not isinstance(name, str) or name not in KNOWN_KEYS:
            raise JobLogError("problems", f"not a known field: {preview_value(name)}")
        if not isinstance(problem, str) or len(problem) > MAX_PROBLEM_CHARS:
            raise JobLogError("problems", f"not a short text: {preview_value(problem)}")
        try:
            judged = Judged(str(item.get("judged")))
        except ValueError:
            raise JobLogError(
                "problems", f"unknown judgement {preview_value(item.get('judged'))}"
            ) from None
        problems.append(FieldProblem(name, problem, judged))
    return tuple(problems)
