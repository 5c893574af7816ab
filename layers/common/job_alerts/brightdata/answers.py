"""What an answer from Bright Data means: a 2xx body becomes a JSON object of the documented shape;
any other status, a body that cannot be used, or a call that got no answer becomes its typed error
(errors). Text quoted in an error is a short escaped excerpt with the token redacted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from urllib3.exceptions import HTTPError, MaxRetryError

from job_alerts import ids
from job_alerts.brightdata.errors import (
    BadResponse,
    BadResponseReason,
    BrightDataError,
    Endpoint,
    Forbidden,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    Transient,
    Unauthorized,
)
from job_alerts.http import (
    Answer,
    BodyDeadline,
    BodyTooLarge,
    excerpt,
    network_reason,
    retry_after_seconds,
)
from job_alerts.text import count, duration

__all__ = [
    "Call",
    "Reply",
    "RerunStarted",
    "decode",
    "objects",
    "paging_error",
    "rerun_started",
    "total",
    "transport_error",
]

_JSON_TYPES: Final = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


@dataclass(frozen=True)
class Call:
    """One call as its errors name it, and the token its quoted text must never show."""

    method: str
    endpoint: Endpoint
    job_id: str | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"{self.method} {self.endpoint}"

    def sample(self, data: bytes | str) -> str:
        return excerpt(data, secrets=(self.token,))

    def names(self, status: int | None = None) -> dict[str, Any]:
        """The keywords every BrightDataError of this call takes."""
        return {"status": status, "endpoint": self.endpoint, "job_id": self.job_id}


class Reply(NamedTuple):
    status: int
    payload: dict[str, Any] | None  # None: an empty body where that is allowed
    call: Call


@dataclass(frozen=True)
class RerunStarted:
    """A rerun Bright Data accepted: the new job's id (checked like any job id) and when it is
    expected to start, as Bright Data wrote it (untrusted text: escape it before showing it)."""

    job_id: str
    start_eta: str | None


def transport_error(
    exc: BodyTooLarge | BodyDeadline | HTTPError,
    call: Call,
    *,
    attempts: int,
    budget_seconds: float,
) -> BrightDataError:
    """The error for a call that got no usable answer: too large, still arriving at the end of
    the budget, or a network failure once the retries were spent."""
    where = call.where
    if isinstance(exc, BodyTooLarge):
        return ResponseTooLarge(
            f"{where} answered {exc.status} with a body larger than {exc.limit} bytes; "
            "it was not read further",
            limit=exc.limit,
            **call.names(exc.status),
        )
    if isinstance(exc, BodyDeadline):
        return Transient(
            f"{where} timed out: the answer ({exc.status}) was still arriving when the "
            f"{duration(budget_seconds)} call budget ran out ({count(exc.received, 'byte')} read)",
            **call.names(exc.status),
        )
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    return Transient(
        f"{where} failed after {count(attempts, 'attempt')}: {network_reason(reason)}",
        **call.names(),
    )


def decode(answer: Answer, call: Call, *, attempts: int, empty_ok: bool = False) -> Reply:
    """The JSON object of a 2xx answer (None for an empty body when `empty_ok`); raises the
    typed error for any other status, or BadResponse for a body that cannot be used."""
    if 200 <= answer.status < 300:
        return Reply(answer.status, _json_object(answer, call, empty_ok), call)
    raise status_error(answer, call, attempts=attempts)


def status_error(answer: Answer, call: Call, *, attempts: int) -> BrightDataError:
    """The error for a non-2xx answer, quoting the server's words when it gave some."""
    status, where = answer.status, call.where
    detail = _detail(answer.body, call)
    names = call.names(status)
    if status == 401:
        return Unauthorized(f"{where}: the token was refused (401){detail}", **names)
    if status == 403:
        return Forbidden(f"{where} was refused for this account (403){detail}", **names)
    if status in (404, 410):
        return NotFound(f"{where}: not found or expired ({status}){detail}", **names)
    if status == 429:
        retry_after = retry_after_seconds(answer.headers)
        hint = f", retry after {duration(retry_after)}" if retry_after is not None else ""
        return RateLimited(
            f"{where} rate limited after {count(attempts, 'attempt')}{hint}",
            retry_after=retry_after,
            **names,
        )
    if status >= 500:
        tried = count(attempts, "attempt")
        return Transient(f"{where} answered {status} after {tried}{detail}", **names)
    return BrightDataError(f"{where} answered {status}{detail}", **names)


def objects(reply: Reply, name: str) -> list[dict]:
    """The array of objects in field `name` ([] when absent); BadResponse for anything else."""
    payload = reply.payload or {}
    items = payload.get(name)
    if items is None:
        return []
    problem = None
    if not isinstance(items, list):
        problem = f"'{name}' is {_json_type(items)}, expected an array"
    else:
        odd = [item for item in items if not isinstance(item, dict)]
        if odd:
            problem = f"'{name}' holds {_json_type(odd[0])}, expected objects"
    if problem is not None:
        raise _wrong_field(reply, name, items, problem)
    return items


def total(reply: Reply) -> int | None:
    """The integer `total` of a listing (None when absent); BadResponse for anything else."""
    value = (reply.payload or {}).get("total")
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, int | str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _wrong_field(reply, "total", value, "'total' is not an integer")


def rerun_started(reply: Reply) -> RerunStarted:
    """The new job of a rerun answer; BadResponse when `collection_id` is not a job id (a hostile
    or garbled id never leaves here). `start_eta` only informs: when it is not text it is
    dropped, not reported, because the rerun has started all the same."""
    payload = reply.payload or {}
    new_id = payload.get("collection_id")
    # Checked before validating: an exception raised while handling InvalidId would carry it
    # as its context, and its message quotes the id, which may be anything the server sent.
    if not ids.is_job_id(new_id):
        raise _wrong_field(reply, "collection_id", new_id, "'collection_id' is not a job id")
    job_id = ids.validate_job_id(new_id)
    start_eta = payload.get("start_eta")
    return RerunStarted(job_id, start_eta if isinstance(start_eta, str) else None)


def paging_error(reply: Reply, problem: str) -> BadResponse:
    """BadResponse(paging) quoting where the listing said it was."""
    page = reply.payload or {}
    position = {key: page.get(key) for key in ("total", "offset", "limit")}
    return bad_response(
        BadResponseReason.PAGING,
        f"{reply.call.endpoint}: {problem}",
        reply.call.sample(json.dumps(position, default=str)),
        reply.call,
        reply.status,
    )


def bad_response(
    reason: BadResponseReason, message: str, sample: str, call: Call, status: int
) -> BadResponse:
    return BadResponse(
        f"{message}: '{sample}'" if sample else message,
        reason=reason,
        sample=sample,
        **call.names(status),
    )


def _wrong_field(reply: Reply, name: str, value: Any, problem: str) -> BadResponse:
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        shown = repr(value)
    call = reply.call
    return bad_response(
        BadResponseReason.WRONG_SHAPE,
        f"{call.endpoint}: {problem}",
        call.sample(f'"{name}": {shown}'),
        call,
        reply.status,
    )


def _json_object(answer: Answer, call: Call, empty_ok: bool) -> dict[str, Any] | None:
    data, status, where = answer.body, answer.status, call.where
    if not data.strip():
        if empty_ok:
            return None
        raise bad_response(
            BadResponseReason.EMPTY, f"{where} answered {status} with no body", "", call, status
        )
    if _looks_like_html(answer):
        raise bad_response(
            BadResponseReason.HTML,
            f"{where} answered {status} with an HTML page instead of JSON",
            call.sample(data),
            call,
            status,
        )
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise bad_response(
            BadResponseReason.NOT_JSON,
            f"{where} answered {status} with a body that is not JSON",
            call.sample(data),
            call,
            status,
        ) from None
    if not isinstance(payload, dict):
        raise bad_response(
            BadResponseReason.WRONG_SHAPE,
            f"{where} answered {status} with {_json_type(payload)}, expected an object",
            call.sample(data),
            call,
            status,
        )
    return payload


def _detail(data: bytes, call: Call) -> str:
    """A short, token-free, escaped excerpt of the server's error text, for a message."""
    text = data.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "message", "msg"):
            if isinstance(parsed.get(key), str):
                text = parsed[key]
                break
    shown = call.sample(text)
    return f": '{shown}'" if shown else ""


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _looks_like_html(answer: Answer) -> bool:
    content_type = str(answer.headers.get("Content-Type", "")).lower()
    # JSON never starts with "<"; pages do (<!DOCTYPE, <html>, <?xml …).
    return "html" in content_type or answer.body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
