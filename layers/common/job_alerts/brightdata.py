"""Bright Data Scraper Studio ("DCA") API client: pooled HTTP calls under the shared retry and
deadline policy (job_alerts.http), bounded bodies, typed errors and call statistics."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, NamedTuple, Self
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.util import parse_url

from job_alerts import ids
from job_alerts.http import (
    DEFAULT_MAX_BODY_BYTES,
    Answer,
    BodyDeadline,
    BodyTooLarge,
    CallBudget,
    DeadlineTimeout,
    excerpt,
    fetch,
    network_reason,
    retry_after_seconds,
    retry_policy,
)

__all__ = [
    "BadResponse",
    "BadResponseReason",
    "BrightDataClient",
    "BrightDataError",
    "CallStats",
    "Endpoint",
    "Forbidden",
    "InvalidId",
    "NotFound",
    "RateLimited",
    "ResponseTooLarge",
    "Transient",
    "Unauthorized",
    "validate_collector_id",
    "validate_job_id",
]

JOBS_PAGE_LIMIT: Final = 500  # the API's maximum page size for /dca/collector/jobs
# Guards against a server that ignores `offset` and would otherwise be paged forever.
MAX_PAGES: Final = 10_000
# A header value may only hold visible ASCII; anything else would make http.client raise an
# error whose message quotes the whole header, token included.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")
_JSON_TYPES: Final = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


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


def _checked(
    validate: Callable[[object], str], value: object, endpoint: Endpoint | None = None
) -> str:
    try:
        return validate(value)
    except ids.InvalidId as exc:
        raise InvalidId(str(exc), endpoint=endpoint) from None


def validate_job_id(value: object) -> str:
    """Return `value` if it is a job id (`j_…` batch or `vj_…` real-time), else raise InvalidId
    (see job_alerts.ids, which owns the pattern)."""
    return _checked(ids.validate_job_id, value)


def validate_collector_id(value: object) -> str:
    """Return `value` if it is a collector id (`c_…`), else raise InvalidId."""
    return _checked(ids.validate_collector_id, value)


class CallStats:
    """Thread-safe counters: HTTP requests and retries per endpoint, errors per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    def record_request(self, endpoint: str) -> None:
        with self._lock:
            self._requests[endpoint] += 1

    def record_retry(self, endpoint: str) -> None:
        with self._lock:
            self._retries[endpoint] += 1
            self._requests[endpoint] += 1

    def record_error(self, kind: str) -> None:
        with self._lock:
            self._errors[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "retries": dict(self._retries),
                "errors": dict(self._errors),
                "requests_total": sum(self._requests.values()),
                "retries_total": sum(self._retries.values()),
                "errors_total": sum(self._errors.values()),
            }


def _normalise_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a non-empty http(s) URL")
    parsed = parse_url(base_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("base_url must be an http:// or https:// URL with a host")
    if parsed.query or parsed.fragment or parsed.auth:
        raise ValueError("base_url must not carry credentials, a query or a fragment")
    return parsed.url.rstrip("/")


def _as_day(value: object, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"{name} must be a datetime.date, not {type(value).__name__}")


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _looks_like_html(answer: Answer, text: bytes) -> bool:
    content_type = str(answer.headers.get("Content-Type", "")).lower()
    # JSON never starts with "<"; pages do (<!DOCTYPE, <html>, <?xml …).
    return "html" in content_type or text.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


class _Reply(NamedTuple):
    status: int
    payload: dict[str, Any] | None  # None: an empty body where that is allowed


class BrightDataClient:
    """One pooled, thread-safe client for the DCA endpoints the monitor reads.

    GET calls are retried on 429/5xx, timeouts and dropped connections with exponential
    backoff (backoff_base * 2**n plus jitter) or the server's Retry-After; POST (rerun) is not
    idempotent, so it is retried only when the connection could not be opened. Each HTTP call
    (each page of a listing) has `call_budget_seconds` from its start: no wait runs past it,
    each attempt's timeouts are cut to it, and a body still arriving when it ends is abandoned,
    so a call lasts at most about the budget plus one read timeout. Bodies are read in chunks;
    one larger than `max_body_bytes` is abandoned (ResponseTooLarge).
    """

    def __init__(
        self,
        base_url: str,
        token: str | Callable[[], str],
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10,
        max_attempts: int = 4,
        call_budget_seconds: float = 30,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        pool_maxsize: int = 16,
        backoff_base: float = 1.0,
        backoff_jitter: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        user_agent: str = "bright-data-job-alerts",
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if call_budget_seconds <= 0 or connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts and call_budget_seconds must be positive")
        if pool_maxsize < 1:
            raise ValueError("pool_maxsize must be at least 1")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self.base_url = _normalise_base_url(base_url)
        self._token_source = token
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._max_attempts = max_attempts
        self._budget = float(call_budget_seconds)
        self._timeouts = (float(connect_timeout), float(read_timeout))
        self._max_body = max_body_bytes
        self._backoff = (float(backoff_base), float(backoff_jitter), float(backoff_max))
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._user_agent = user_agent
        self.stats = CallStats()
        # block=True: 16 monitor threads share the pool and wait for a free connection
        # instead of opening (and then discarding) extra ones.
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=pool_maxsize, block=True)

    def __repr__(self) -> str:
        return f"BrightDataClient(base_url={self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.clear()

    # -- public calls -------------------------------------------------------------------

    def list_collectors(self) -> list[dict]:
        """All collectors (`data` of /dca/collectors_list), following pages if it is paged."""
        return self._paged(Endpoint.COLLECTORS_LIST, {}, page_limit=None)

    def list_jobs(self, collector_id: str, from_date: date, to_date: date) -> list[dict]:
        """Every job of a collector created in the day window from_date..to_date (inclusive),
        newest first, read page by page (500 a page) until `total` is reached."""
        collector = _checked(ids.validate_collector_id, collector_id, Endpoint.COLLECTOR_JOBS)
        first, last = _as_day(from_date, "from_date"), _as_day(to_date, "to_date")
        if first > last:
            raise ValueError("from_date is after to_date")
        params = {
            "collector": collector,
            "from_date": first.isoformat(),
            "to_date": last.isoformat(),
            "sort_asc": "-1",
        }
        return self._paged(Endpoint.COLLECTOR_JOBS, params, page_limit=JOBS_PAGE_LIMIT)

    def get_log(self, job_id: str) -> dict:
        """The raw JSON object of /dca/log/{id} (key casing as the API sent it)."""
        job = _checked(ids.validate_job_id, job_id, Endpoint.LOG)
        payload = self._request("GET", Endpoint.LOG, job_id=job).payload
        assert payload is not None  # only empty_ok calls may answer nothing
        return payload

    def get_errors(self, job_id: str, *, limit: int = 50) -> list[dict]:
        """At most `limit` per-input errors ({url, error, consumer}) of a job; [] when none."""
        job = _checked(ids.validate_job_id, job_id, Endpoint.HP_ERRORS)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError("limit must be a non-negative int")
        reply = self._request("GET", Endpoint.HP_ERRORS, job_id=job, empty_ok=True)
        if reply.payload is None:
            return []
        errors = self._objects(reply, "errors", Endpoint.HP_ERRORS, job)
        return errors[:limit]

    def rerun(self, job_id: str, *, failed_only: bool = True) -> dict:
        """Start a new job re-running the (failed) inputs; returns {collection_id, start_eta}.
        Not idempotent: never retried once the request may have reached the server."""
        job = _checked(ids.validate_job_id, job_id, Endpoint.RERUN)
        body = {"failed_only": 1} if failed_only else {}
        payload = self._request("POST", Endpoint.RERUN, job_id=job, body=body).payload
        assert payload is not None
        return payload

    # -- plumbing -----------------------------------------------------------------------

    def _bearer_token(self, endpoint: Endpoint) -> str:
        with self._token_lock:
            if self._token is None:
                source = self._token_source
                raw = source() if callable(source) else source
                token = raw.strip() if isinstance(raw, str) else ""
                if not _TOKEN_SHAPE.fullmatch(token):
                    raise self._fail(
                        Unauthorized(
                            "the Bright Data API token is empty or holds characters "
                            "that cannot be sent in an HTTP header",
                            endpoint=endpoint,
                        )
                    )
                self._token = token
            return self._token

    def _fail(self, exc: BrightDataError) -> BrightDataError:
        self.stats.record_error(exc.kind)
        return exc

    def _sample(self, data: bytes | str) -> str:
        return excerpt(data, secrets=(self._token,))

    def _bad(
        self,
        reason: BadResponseReason,
        message: str,
        sample: str,
        *,
        status: int,
        endpoint: Endpoint,
        job_id: str | None = None,
    ) -> BrightDataError:
        return self._fail(
            BadResponse(
                f"{message}: '{sample}'" if sample else message,
                reason=reason,
                sample=sample,
                status=status,
                endpoint=endpoint,
                job_id=job_id,
            )
        )

    def _field_sample(self, field: str, value: Any) -> str:
        try:
            shown = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            shown = repr(value)
        return self._sample(f'"{field}": {shown}')

    def _objects(
        self, reply: _Reply, field: str, endpoint: Endpoint, job_id: str | None = None
    ) -> list[dict]:
        payload = reply.payload or {}
        items = payload.get(field)
        if items is None:
            return []
        problem = None
        if not isinstance(items, list):
            problem = f"'{field}' is {_json_type(items)}, expected an array"
        else:
            odd = [item for item in items if not isinstance(item, dict)]
            if odd:
                problem = f"'{field}' holds {_json_type(odd[0])}, expected objects"
        if problem is not None:
            raise self._bad(
                BadResponseReason.WRONG_SHAPE,
                f"{endpoint}: {problem}",
                self._field_sample(field, items),
                status=reply.status,
                endpoint=endpoint,
                job_id=job_id,
            )
        return items

    def _total(self, reply: _Reply, endpoint: Endpoint) -> int | None:
        total = (reply.payload or {}).get("total")
        if total is None:
            return None
        if not isinstance(total, bool) and isinstance(total, int | str):
            try:
                return int(total)
            except ValueError:
                pass
        raise self._bad(
            BadResponseReason.WRONG_SHAPE,
            f"{endpoint}: 'total' is not an integer",
            self._field_sample("total", total),
            status=reply.status,
            endpoint=endpoint,
        )

    def _paged(
        self, endpoint: Endpoint, params: Mapping[str, str], *, page_limit: int | None
    ) -> list[dict]:
        items: list[dict] = []
        seen: set[Any] = set()
        offset = 0
        limit = page_limit
        for _ in range(MAX_PAGES):
            query = dict(params)
            if limit is not None:
                query.update(offset=str(offset), limit=str(limit))
            elif offset:
                query["offset"] = str(offset)
            reply = self._request("GET", endpoint, params=query)
            page = reply.payload or {}
            data = self._objects(reply, "data", endpoint)
            total = self._total(reply, endpoint)
            if limit is None and isinstance(page.get("limit"), int) and page["limit"] > 0:
                limit = page["limit"]
            # New jobs arriving while we page (newest first) shift older ones onto the next
            # page, so the same item can come twice: keep the first copy.
            fresh = 0
            for item in data:
                key = item.get("id")
                if key is None or key not in seen:
                    seen.add(key)
                    items.append(item)
                    fresh += 1
            offset += len(data)
            if not data:
                return items
            if fresh == 0:
                raise self._paging_error(reply, endpoint, "paging made no progress")
            if total is not None:
                if offset >= total:
                    return items
            elif limit is None or len(data) < limit:
                return items
        raise self._paging_error(reply, endpoint, f"more than {MAX_PAGES} pages")

    def _paging_error(self, reply: _Reply, endpoint: Endpoint, problem: str) -> BrightDataError:
        page = reply.payload or {}
        position = {key: page.get(key) for key in ("total", "offset", "limit")}
        return self._bad(
            BadResponseReason.PAGING,
            f"{endpoint}: {problem}",
            self._sample(json.dumps(position, default=str)),
            status=reply.status,
            endpoint=endpoint,
        )

    def _request(
        self,
        method: str,
        endpoint: Endpoint,
        *,
        job_id: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        empty_ok: bool = False,
    ) -> _Reply:
        path = endpoint.value
        if job_id is not None:
            path = path.format(id=quote(job_id, safe=""))
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params)
        token = self._bearer_token(endpoint)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        encoded: bytes | None = None
        if body is not None:
            encoded = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"

        budget = CallBudget.lasting(
            self._budget,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            on_retry=lambda: self.stats.record_retry(endpoint.value),
        )
        backoff_base, backoff_jitter, backoff_max = self._backoff
        retries = retry_policy(
            budget,
            max_attempts=self._max_attempts,
            methods={"GET"},
            backoff_base=backoff_base,
            backoff_jitter=backoff_jitter,
            backoff_max=backoff_max,
        )
        where = f"{method} {endpoint}"
        common: dict[str, Any] = {"endpoint": endpoint, "job_id": job_id}
        self.stats.record_request(endpoint.value)
        try:
            answer = fetch(
                self._pool,
                method,
                url,
                budget=budget,
                retries=retries,
                timeout=DeadlineTimeout(*self._timeouts, budget),
                max_body=self._max_body,
                body=encoded,
                headers=headers,
            )
        except BodyTooLarge as exc:
            raise self._fail(
                ResponseTooLarge(
                    f"{where} answered {exc.status} with a body larger than {exc.limit} bytes; "
                    "it was not read further",
                    limit=exc.limit,
                    status=exc.status,
                    **common,
                )
            ) from None
        except BodyDeadline as exc:
            raise self._fail(
                Transient(
                    f"{where} timed out: the answer ({exc.status}) was still arriving when the "
                    f"{self._budget:g} s call budget ran out ({exc.received} bytes read)",
                    status=exc.status,
                    **common,
                )
            ) from None
        except MaxRetryError as exc:
            raise self._fail(
                Transient(
                    f"{where} failed after {budget.attempts} attempt(s): "
                    f"{network_reason(exc.reason)}",
                    **common,
                )
            ) from exc
        except HTTPError as exc:
            raise self._fail(
                Transient(
                    f"{where} failed after {budget.attempts} attempt(s): {network_reason(exc)}",
                    **common,
                )
            ) from exc
        return self._decode(where, endpoint, job_id, answer, budget, empty_ok)

    def _decode(
        self,
        where: str,
        endpoint: Endpoint,
        job_id: str | None,
        answer: Answer,
        budget: CallBudget,
        empty_ok: bool,
    ) -> _Reply:
        status, data = answer.status, answer.body
        common: dict[str, Any] = {"status": status, "endpoint": endpoint, "job_id": job_id}
        if 200 <= status < 300:
            return _Reply(status, self._json_object(where, answer, empty_ok, common))
        detail = self._detail(data)
        if status == 401:
            raise self._fail(
                Unauthorized(f"{where}: the token was refused (401){detail}", **common)
            )
        if status == 403:
            raise self._fail(
                Forbidden(f"{where} was refused for this account (403){detail}", **common)
            )
        if status in (404, 410):
            raise self._fail(
                NotFound(f"{where}: not found or expired ({status}){detail}", **common)
            )
        if status == 429:
            retry_after = retry_after_seconds(answer.headers)
            hint = f", retry after {retry_after:.0f} s" if retry_after is not None else ""
            raise self._fail(
                RateLimited(
                    f"{where} rate limited after {budget.attempts} attempt(s){hint}",
                    retry_after=retry_after,
                    **common,
                )
            )
        if status >= 500:
            raise self._fail(
                Transient(
                    f"{where} answered {status} after {budget.attempts} attempt(s){detail}",
                    **common,
                )
            )
        raise self._fail(BrightDataError(f"{where} answered {status}{detail}", **common))

    def _json_object(
        self, where: str, answer: Answer, empty_ok: bool, common: dict[str, Any]
    ) -> dict[str, Any] | None:
        data, status = answer.body, answer.status
        if not data.strip():
            if empty_ok:
                return None
            raise self._bad(
                BadResponseReason.EMPTY, f"{where} answered {status} with no body", "", **common
            )
        if _looks_like_html(answer, data):
            raise self._bad(
                BadResponseReason.HTML,
                f"{where} answered {status} with an HTML page instead of JSON",
                self._sample(data),
                **common,
            )
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            raise self._bad(
                BadResponseReason.NOT_JSON,
                f"{where} answered {status} with a body that is not JSON",
                self._sample(data),
                **common,
            ) from None
        if not isinstance(payload, dict):
            raise self._bad(
                BadResponseReason.WRONG_SHAPE,
                f"{where} answered {status} with {_json_type(payload)}, expected an object",
                self._sample(data),
                **common,
            )
        return payload

    def _detail(self, data: bytes) -> str:
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
        shown = self._sample(text)
        return f": '{shown}'" if shown else ""
