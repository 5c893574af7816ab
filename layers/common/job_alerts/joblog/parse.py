"""parse_job_log: a `/dca/log/{job_id}` answer read field by field into a JobLog. What can be
judged is judged, every odd field is named on the JobLog, and only an answer with nothing to
judge is refused (JobLogError)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job_alerts.ids import JOB_ID_EXPECTED, is_job_id
from job_alerts.joblog.fields import (
    FieldReader,
    OddFieldError,
    Spellings,
    as_collector_id,
    as_reported_rate,
    as_status,
    as_text,
    as_trigger,
    bounded_extra,
    preview_value,
    read_value,
)
from job_alerts.joblog.model import JobLog
from job_alerts.joblog.schema import (
    COUNT_KEYS,
    KNOWN_KEYS,
    RATE_AGREEMENT_TOLERANCE,
    JobLogError,
    JobStatus,
    Judged,
)
from job_alerts.text import percent, preview

__all__ = ["parse_job_log"]


def _judged_rate(reader: FieldReader, inputs: int | None, success: int | None) -> float | None:
    """The success rate to judge: the reported one when it agrees with Success/Inputs (within
    RATE_AGREEMENT_TOLERANCE) or there are no counts to check it against; else the counts."""
    # Success can exceed Inputs when duplicates are counted; a rate stays <= 100%.
    computed = min(1.0, success / inputs) if success is not None and inputs else None
    fallback = Judged.WITHOUT_IT if computed is None else Judged.ON_COUNTS
    reported = reader.read("success_rate", as_reported_rate, fallback)
    if reported is None or computed is None:
        return computed if reported is None else reported
    # The reported figure is what Bright Data's own panel shows, so alerts quote it when true.
    if abs(reported - computed) <= RATE_AGREEMENT_TOLERANCE + 1e-9:
        return reported
    reader.add(
        "success_rate",
        f"says {percent(reported)}, but Success/Inputs = {success}/{inputs}",
        Judged.ON_COUNTS,
    )
    return computed


def _split_keys(payload: Mapping[Any, Any]) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Known fields by lower-case name (`Fails`, `fails` and ` FAILS ` are one field; several
    spellings are kept as Spellings, to be read only when they agree), and the unknown ones
    under their original spelling."""
    spelled: dict[str, list[tuple[str, Any]]] = {}
    unknown: list[tuple[str, Any]] = []
    for key, value in payload.items():
        if not isinstance(key, str):
            raise JobLogError("payload", f"keys must be text, got {preview_value(key)}")
        name = key.strip().lower()
        if name in KNOWN_KEYS:
            spelled.setdefault(name, []).append((key, value))
        else:
            unknown.append((key, value))
    known = {
        name: given[0][1] if len(given) == 1 else Spellings(tuple(given))
        for name, given in spelled.items()
    }
    return known, unknown


def _job_id(given: Any, asked: str | None) -> str:
    try:
        given_id = read_value(given, as_text)
        asked_id = as_text(asked)
    except OddFieldError as odd:
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
        raise JobLogError("payload", f"expected a JSON object, got {preview_value(payload)}")
    known, unknown = _split_keys(payload)
    resolved_id = _job_id(known.get("id"), job_id)
    reader = FieldReader(known.get, lenient=True)
    status_read = reader.read("status", as_status, Judged.ON_COUNTS)
    shared = reader.shared_fields("")
    success_rate = _judged_rate(reader, shared["inputs"], shared["success"])
    counted = any(shared[name] is not None for name in COUNT_KEYS)
    if status_read is None and success_rate is None and not counted:
        odd = ", ".join(problem.field for problem in reader.problems)
        raise JobLogError(
            "payload",
            "nothing to judge: no status and no readable count"
            + (f" (unreadable: {odd})" if odd else ""),
        )
    status, raw_status = status_read or (JobStatus.UNKNOWN, None)
    collector_id = reader.read("collector", as_collector_id)
    trigger = reader.read("trigger", as_trigger)
    return JobLog(
        job_id=resolved_id,
        status=status,
        raw_status=raw_status,
        collector_id=collector_id,
        success_rate=success_rate,
        trigger=trigger,
        extra=bounded_extra(unknown),
        problems=tuple(reader.problems),
        **shared,
    )
