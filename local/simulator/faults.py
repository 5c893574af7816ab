"""Fault injection: the kinds of misbehaviour, the plan of faults waiting for matching requests,
and the canned answers of the faults that replace the real one."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "MAINTENANCE_PAGE",
    "Answer",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "canned_answer",
    "http_date",
    "huge_json",
    "trickle_body",
    "with_wrong_types",
]

HUGE_DEFAULT_BYTES = 50_000_000
_STREAM_PIECE = 64 * 1024

MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Bright Data - Maintenance</title></head>\n"
    "<body><h1>We'll be back soon</h1><p>Scheduled maintenance in progress.</p></body></html>\n"
)


class FaultKind(StrEnum):
    LATENCY = "latency"  # params: seconds; delays, then the request proceeds
    STATUS = "status"  # params: code (default 503), body (optional JSON)
    RATE_LIMIT = "rate_limit"  # params: retry_after = seconds | raw header str | None
    UNAUTHORIZED = "unauthorized"  # 401
    NOT_FOUND = "not_found"  # 404
    MALFORMED = "malformed"  # 200 with a body that is not JSON; params: body (str)
    WRONG_TYPE = "wrong_type"  # 200; params: body (replaces payload) or fields (merged in)
    RESET = "reset"  # close the connection without an answer (and without acting)
    STALL = "stall"  # params: seconds (default 5); act, wait, then answer normally
    # Act, then send the answer's body one byte every `seconds` (default 1); params: body
    TRICKLE = "trickle"
    # 200 with a valid JSON object of `size` bytes (default 50 MB), streamed; chunked=True
    # sends it without Content-Length
    HUGE = "huge"
    HTML = "html"  # text/html page (maintenance); params: code (default 200), body
    FORBIDDEN = "forbidden"  # 403 as text/plain; params: body (default "Automation not allowed")


class Answer(NamedTuple):
    status: int
    payload: Any  # JSON-able, or bytes sent as they are
    headers: dict[str, str]


@dataclass
class Fault:
    endpoint: str
    kind: FaultKind
    remaining: int | None
    job_id: str | None
    params: dict[str, Any]

    def matches(self, endpoint: str, job_id: str | None) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        return self.job_id is None or self.job_id == job_id


class FaultPlan:
    """Faults waiting for matching requests, thread-safe."""

    def __init__(self, endpoints: Collection[str]) -> None:
        self._endpoints = endpoints
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        endpoint: str,
        kind: str,
        *,
        times: int | None = 1,
        job_id: str | None = None,
        **params: Any,
    ) -> None:
        if endpoint != "*" and endpoint not in self._endpoints:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(self._endpoints)}")
        fault_kind = FaultKind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._faults.append(Fault(endpoint, fault_kind, times, job_id, dict(params)))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, endpoint: str, job_id: str | None) -> tuple[float, Fault | None]:
        """For one request: the seconds all matching latency faults add, and the first other
        matching fault; each fault taken counts one of its `times`."""
        delay = 0.0
        chosen: Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(endpoint, job_id):
                    continue
                if fault.kind is FaultKind.LATENCY:
                    delay += float(fault.params.get("seconds", 0.1))
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
        return delay, chosen


def http_date(moment: datetime) -> str:
    """An HTTP-date (for a Retry-After header)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _status(params: Mapping[str, Any]) -> Answer:
    code = int(params.get("code", 503))
    return Answer(code, params.get("body", {"error": f"simulated {code}"}), {})


def _rate_limit(params: Mapping[str, Any]) -> Answer:
    headers: dict[str, str] = {"x-brd-error-code": "client_10110"}
    retry_after = params.get("retry_after")
    if isinstance(retry_after, int | float):
        headers["Retry-After"] = str(int(retry_after))
    elif isinstance(retry_after, datetime):
        headers["Retry-After"] = http_date(retry_after)
    elif isinstance(retry_after, str):
        headers["Retry-After"] = retry_after
    return Answer(429, {"error": "Too many requests"}, headers)


def _malformed(params: Mapping[str, Any]) -> Answer:
    body = params.get("body", '{"status": "done", "fails": ')
    return Answer(200, body.encode() if isinstance(body, str) else bytes(body), {})


def _html(params: Mapping[str, Any]) -> Answer:
    page = str(params.get("body", MAINTENANCE_PAGE)).encode()
    return Answer(int(params.get("code", 200)), page, {"Content-Type": "text/html; charset=utf-8"})


def _forbidden(params: Mapping[str, Any]) -> Answer:
    text = str(params.get("body", "Automation not allowed")).encode()
    return Answer(403, text, {"Content-Type": "text/plain; charset=utf-8"})


# Faults whose answer replaces the real one: the request is answered without being checked
# or acted on (a rerun answered this way starts no job).
_CANNED: dict[FaultKind, Callable[[Mapping[str, Any]], Answer]] = {
    FaultKind.STATUS: _status,
    FaultKind.RATE_LIMIT: _rate_limit,
    FaultKind.UNAUTHORIZED: lambda _: Answer(401, {"error": "Unauthorized"}, {}),
    FaultKind.NOT_FOUND: lambda _: Answer(404, {"error": "Not found"}, {}),
    FaultKind.MALFORMED: _malformed,
    FaultKind.HTML: _html,
    FaultKind.FORBIDDEN: _forbidden,
}


def canned_answer(fault: Fault | None) -> Answer | None:
    """The answer `fault` gives instead of the real one; None when the real one is given."""
    if fault is None or fault.kind not in _CANNED:
        return None
    return _CANNED[fault.kind](fault.params)


def with_wrong_types(fault: Fault | None, answer: Answer) -> Answer:
    """A wrong_type fault's change to a successful answer: its `body` instead of the payload,
    or its `fields` merged into it."""
    if fault is None or fault.kind is not FaultKind.WRONG_TYPE or answer.status != 200:
        return answer
    if "body" in fault.params:
        return answer._replace(payload=fault.params["body"])
    if isinstance(answer.payload, dict):
        return answer._replace(payload={**answer.payload, **fault.params.get("fields", {})})
    return answer


def trickle_body(params: Mapping[str, Any], answer: Answer) -> bytes:
    """The body a trickle fault sends: its own `body`, else the answer's."""
    body = params.get("body", answer.payload)
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


def huge_json(size: int, job_id: str | None) -> Iterable[bytes]:
    """A valid JSON object of exactly `size` bytes (or the smallest one, if `size` is smaller),
    made piece by piece so that not even the simulator holds it whole."""
    head = json.dumps({"Id": job_id or "j_huge", "Status": "done"})[:-1].encode()
    head += b', "padding": "'
    tail = b'"}'
    padding = max(0, size - len(head) - len(tail))
    yield head
    while padding > 0:
        piece = min(padding, _STREAM_PIECE)
        yield b"x" * piece
        padding -= piece
    yield tail
