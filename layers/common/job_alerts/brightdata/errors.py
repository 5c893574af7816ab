"""The endpoints the client calls and the typed errors a call raises: one class per way a call can
fail, each naming its endpoint, HTTP status and job; and the id checks that run before any URL."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from job_alerts import ids

__all__ = [
    "BadResponse",
    "BadResponseReason",
    "BrightDataError",
    "Endpoint",
    "Forbidden",
    "InvalidId",
    "NotFound",
    "RateLimited",
    "ResponseTooLarge",
    "Transient",
    "Unauthorized",
    "checked_id",
    "is_unreachable",
    "validate_collector_id",
    "validate_job_id",
]


class Endpoint(StrEnum):
    """Path templates: used in URLs, statistics and error messages (never with the token)."""

    COLLECTORS_LIST = "/dca/collectors_list"
    COLLECTOR_JOBS = "/dca/collector/jobs"
    LOG = "/dca/log/{id}"
    HP_ERRORS = "/dca/jobs/{id}/hp_errors"
    RERUN = "/dca/jobs/{id}/rerun"


class BrightDataError(Exception):
    """Any failure talking to Bright Data. Messages never contain the API token. Raised by a
    call, it carries the `endpoint` it concerns, the HTTP `status` when there was an answer,
    and the `job_id` for per-job endpoints."""

    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: Endpoint | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
        self.job_id = job_id


class Unauthorized(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """401, or a token that cannot be sent: the token itself is refused, so every call fails
    alike. Never retried."""

    kind = "unauthorized"


class Forbidden(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """403: this endpoint is refused for this account (e.g. "Automation not allowed", or
    /dca/collectors_list on some accounts) while the token may work elsewhere. Never retried."""

    kind = "forbidden"


class NotFound(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """404/410: the job does not exist or has expired (batch jobs are kept 16 days)."""

    kind = "not_found"


class RateLimited(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """429 after the retries, or a Retry-After that does not fit in the call budget."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        endpoint: Endpoint | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint, job_id=job_id)
        self.retry_after = retry_after


class Transient(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """5xx, timeouts (including a body still arriving when the call budget ran out) and
    connection failures once the retries are spent."""

    kind = "transient"


def is_unreachable(error: object) -> bool:
    """The API could not be reached or would not answer in time (after the retries): a failed
    call for monitor health, unlike a refusal or a missing job."""
    return isinstance(error, Transient | RateLimited)


class BadResponseReason(StrEnum):
    """Why a 2xx answer could not be used: a fixed set, so the monitor can count by it."""

    HTML = "html"  # a web page (maintenance, proxy or login page) instead of JSON
    NOT_JSON = "not_json"  # other text that does not parse as JSON
    EMPTY = "empty"  # no body where one was needed
    WRONG_SHAPE = "wrong_shape"  # JSON, but not the documented structure or types
    PAGING = "paging"  # pages that never end or repeat themselves


class BadResponse(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """A 2xx answer that is not usable JSON of the documented shape. `reason` says which way
    (BadResponseReason); `sample` is a short (<= 120 chars), single-line, escaped excerpt of
    what came back, token redacted, fit to quote in an alert or a log."""

    kind = "bad_response"

    def __init__(
        self,
        message: str,
        *,
        reason: BadResponseReason,
        sample: str,
        status: int | None = None,
        endpoint: Endpoint | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint, job_id=job_id)
        self.reason = reason
        self.sample = sample


class ResponseTooLarge(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """The answer announced or sent more than `limit` bytes (the client's max_body_bytes); it
    was not read further and its connection was closed. Never retried."""

    kind = "too_large"

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        status: int | None = None,
        endpoint: Endpoint | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint, job_id=job_id)
        self.limit = limit


class InvalidId(BrightDataError, ids.InvalidId):  # noqa: N818 - team contract name
    """A job or collector id that could not be put in a URL safely; nothing was sent. Both a
    BrightDataError and the package-wide job_alerts.ids.InvalidId (a ValueError)."""

    kind = "invalid_id"


def checked_id(
    validate: Callable[[object], str], value: object, endpoint: Endpoint | None = None
) -> str:
    """`validate(value)` (one of job_alerts.ids' validators), its refusal raised as InvalidId
    naming `endpoint`."""
    try:
        return validate(value)
    except ids.InvalidId as exc:
        raise InvalidId(str(exc), endpoint=endpoint) from None


def validate_job_id(value: object) -> str:
    """Return `value` if it is a job id (`j_…` batch or `vj_…` real-time), else raise InvalidId
    (see job_alerts.ids, which owns the pattern)."""
    return checked_id(ids.validate_job_id, value)


def validate_collector_id(value: object) -> str:
    """Return `value` if it is a collector id (`c_…`), else raise InvalidId."""
    return checked_id(ids.validate_collector_id, value)
