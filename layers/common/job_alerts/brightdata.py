"""Bright Data Scraper Studio ("DCA") API client: id validation, pooled HTTP calls, retries,
typed errors and call statistics. Runtime dependencies: urllib3 and the standard library."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, Self
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    HTTPError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util import Retry, Timeout, parse_url

__all__ = [
    "BadResponse",
    "BrightDataClient",
    "BrightDataError",
    "CallStats",
    "Endpoint",
    "InvalidId",
    "NotFound",
    "RateLimited",
    "Transient",
    "Unauthorized",
    "validate_collector_id",
    "validate_job_id",
]

# Real ids are ~18 base-36 characters after the prefix; 64 leaves room for longer ids without
# letting a caller smuggle path or query syntax into a URL.
ID_BODY_MAX: Final = 64
_JOB_ID = re.compile(rf"(?:j|vj)_[A-Za-z0-9_]{{1,{ID_BODY_MAX}}}")
_COLLECTOR_ID = re.compile(rf"c_[A-Za-z0-9_]{{1,{ID_BODY_MAX}}}")
_ID_PREVIEW_CHARS: Final = 24

JOBS_PAGE_LIMIT: Final = 500  # the API's maximum page size for /dca/collector/jobs
# Guards against a server that ignores `offset` and would otherwise be paged forever.
MAX_PAGES: Final = 10_000
_DETAIL_CHARS: Final = 160
# A header value may only hold visible ASCII; anything else would make http.client raise an
# error whose message quotes the whole header, token included.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")


class Endpoint(StrEnum):
    """Path templates: used in URLs, statistics and error messages (never with the token)."""

    COLLECTORS_LIST = "/dca/collectors_list"
    COLLECTOR_JOBS = "/dca/collector/jobs"
    LOG = "/dca/log/{id}"
    HP_ERRORS = "/dca/jobs/{id}/hp_errors"
    RERUN = "/dca/jobs/{id}/rerun"


class BrightDataError(Exception):
    """Any failure talking to Bright Data. Messages never contain the API token."""

    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
        self.job_id = job_id


class Unauthorized(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """401/403, or a token that cannot be sent: concerns every call, never retried."""

    kind = "unauthorized"


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
        endpoint: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint, job_id=job_id)
        self.retry_after = retry_after


class Transient(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """5xx, timeouts and connection failures once the retries are spent."""

    kind = "transient"


class BadResponse(BrightDataError):  # noqa: N818 - names fixed by the team contract
    """The answer was not JSON or did not have the documented shape."""

    kind = "bad_response"


class InvalidId(BrightDataError, ValueError):  # noqa: N818 - team contract name
    """A job or collector id that could not be put in a URL safely; nothing was sent."""

    kind = "invalid_id"


def _preview(value: str) -> str:
    shown = ascii(value[:_ID_PREVIEW_CHARS])
    if len(value) > _ID_PREVIEW_CHARS:
        shown += f"... ({len(value)} chars)"
    return shown


def _validate_id(value: object, pattern: re.Pattern[str], what: str, expected: str) -> str:
    if not isinstance(value, str):
        raise InvalidId(f"{what} must be a str, not {type(value).__name__}")
    # A str subclass could override formatting; validate and return the plain characters.
    plain = str.__str__(value)
    if pattern.fullmatch(plain) is None:
        raise InvalidId(f"invalid {what} {_preview(plain)}: expected {expected}")
    return plain


def validate_job_id(value: object) -> str:
    """Return `value` if it is a job id (`j_…` batch or `vj_…` real-time), else raise InvalidId."""
    return _validate_id(
        value, _JOB_ID, "job id", f"'j_' or 'vj_' then 1-{ID_BODY_MAX} of [A-Za-z0-9_]"
    )


def validate_collector_id(value: object) -> str:
    """Return `value` if it is a collector id (`c_…`), else raise InvalidId."""
    return _validate_id(
        value, _COLLECTOR_ID, "collector id", f"'c_' then 1-{ID_BODY_MAX} of [A-Za-z0-9_]"
    )


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


@dataclass
class _CallContext:
    """What one logical call's retries share: its deadline, clock, sleep and counters."""

    endpoint: str
    deadline: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    rng: Callable[[], float]
    stats: CallStats
    attempts: int = 1


class _BudgetRetry(Retry):
    """urllib3 Retry that stops at the call's deadline, sleeps through an injectable function
    (so tests need not wait), draws jitter from an injectable rng and counts retries."""

    def __init__(self, *args: Any, context: _CallContext | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context
        self.planned_delay = 0.0

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.context = self.context
        return fresh

    def get_backoff_time(self) -> float:
        # Bright Data suggests 1 s, 2 s, 4 s: the first retry already waits (urllib3's own
        # formula would retry the first failure at once). Redirects are never followed, so
        # every history entry is a failure.
        failures = len(self.history)
        if failures == 0:
            return 0.0
        rng = self.context.rng if self.context else random.random
        delay = self.backoff_factor * 2 ** (failures - 1) + rng() * self.backoff_jitter
        return float(max(0.0, min(self.backoff_max, delay)))

    def get_retry_after(self, response: Any) -> float | None:
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            # An unreadable Retry-After is no reason to fail: fall back to the backoff.
            return None

    def _delay_before_next(self, response: Any) -> float:
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after:
                return retry_after
        return self.get_backoff_time()

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        fresh = super().increment(method, url, response, error, _pool, _stacktrace)
        context = self.context
        if context is None:
            return fresh
        delay = fresh._delay_before_next(response)
        if context.clock() + delay > context.deadline:
            # Waiting would overrun the call budget: give up now. With raise_on_status off,
            # urllib3 hands back the last response (e.g. the 429) for the caller to map.
            reason = error or ResponseError("call budget exhausted")
            raise MaxRetryError(_pool, url or "", reason)
        fresh.planned_delay = delay
        context.attempts += 1
        context.stats.record_retry(context.endpoint)
        return fresh

    def sleep(self, response: Any = None) -> None:
        if self.context is None:
            super().sleep(response)
        elif self.planned_delay > 0:
            self.context.sleep(self.planned_delay)


def _network_reason(error: BaseException | None) -> str:
    if isinstance(error, NewConnectionError):
        return "connection failed"
    if isinstance(error, ConnectTimeoutError):
        return "connect timed out"
    if isinstance(error, ReadTimeoutError):
        return "read timed out"
    if isinstance(error, ProtocolError):
        return "connection dropped without a complete response"
    if isinstance(error, EmptyPoolError):
        return "no free connection in the pool"
    return f"network error ({type(error).__name__})"


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


def _total_of(page: Mapping[str, Any], endpoint: str) -> int | None:
    total = page.get("total")
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, int | str):
        raise BadResponse(f"{endpoint}: 'total' is not an integer", endpoint=endpoint)
    try:
        return int(total)
    except ValueError:
        raise BadResponse(f"{endpoint}: 'total' is not an integer", endpoint=endpoint) from None


def _objects(items: Any, field: str, endpoint: str, job_id: str | None = None) -> list[dict]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise BadResponse(
            f"{endpoint}: '{field}' is {type(items).__name__}, expected a list",
            endpoint=endpoint,
            job_id=job_id,
        )
    for item in items:
        if not isinstance(item, dict):
            raise BadResponse(
                f"{endpoint}: '{field}' holds a {type(item).__name__}, expected objects",
                endpoint=endpoint,
                job_id=job_id,
            )
    return items


class BrightDataClient:
    """One pooled, thread-safe client for the DCA endpoints the monitor reads.

    GET calls are retried on 429/5xx, timeouts and dropped connections with exponential
    backoff (backoff_base * 2**n plus jitter) or the server's Retry-After; POST (rerun) is not
    idempotent, so it is retried only when the connection could not be opened. Each HTTP call
    (each page of a listing) stops retrying once waiting would pass `call_budget_seconds`; in
    the worst case it lasts about the budget plus one read timeout.
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
        self.base_url = _normalise_base_url(base_url)
        self._token_source = token
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self._max_attempts = max_attempts
        self._budget = float(call_budget_seconds)
        self._backoff = (float(backoff_base), float(backoff_jitter), float(backoff_max))
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._user_agent = user_agent
        self.stats = CallStats()
        # block=True: 16 monitor threads share the pool and wait for a free connection
        # instead of opening (and then discarding) extra ones.
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=pool_maxsize,
            block=True,
            timeout=Timeout(connect=connect_timeout, read=read_timeout),
        )

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
        collector = validate_collector_id(collector_id)
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
        job = validate_job_id(job_id)
        payload = self._request("GET", Endpoint.LOG, job_id=job)
        if not isinstance(payload, dict):
            raise self._fail(
                BadResponse(
                    f"{Endpoint.LOG}: expected an object, got {type(payload).__name__}",
                    endpoint=Endpoint.LOG,
                    job_id=job,
                )
            )
        return payload

    def get_errors(self, job_id: str, *, limit: int = 50) -> list[dict]:
        """At most `limit` per-input errors ({url, error, consumer}) of a job; [] when none."""
        job = validate_job_id(job_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError("limit must be a non-negative int")
        payload = self._request("GET", Endpoint.HP_ERRORS, job_id=job, empty_ok=True)
        if payload is None:
            return []
        if not isinstance(payload, dict):
            raise self._fail(
                BadResponse(
                    f"{Endpoint.HP_ERRORS}: expected an object, got {type(payload).__name__}",
                    endpoint=Endpoint.HP_ERRORS,
                    job_id=job,
                )
            )
        try:
            errors = _objects(payload.get("errors"), "errors", Endpoint.HP_ERRORS, job)
        except BadResponse as exc:
            raise self._fail(exc) from None
        return errors[:limit]

    def rerun(self, job_id: str, *, failed_only: bool = True) -> dict:
        """Start a new job re-running the (failed) inputs; returns {collection_id, start_eta}.
        Not idempotent: never retried once the request may have reached the server."""
        job = validate_job_id(job_id)
        body = {"failed_only": 1} if failed_only else {}
        payload = self._request("POST", Endpoint.RERUN, job_id=job, body=body)
        if not isinstance(payload, dict):
            raise self._fail(
                BadResponse(
                    f"{Endpoint.RERUN}: expected an object, got {type(payload).__name__}",
                    endpoint=Endpoint.RERUN,
                    job_id=job,
                )
            )
        return payload

    # -- plumbing -----------------------------------------------------------------------

    def _bearer_token(self) -> str:
        with self._token_lock:
            if self._token is None:
                source = self._token_source
                raw = source() if callable(source) else source
                token = raw.strip() if isinstance(raw, str) else ""
                if not _TOKEN_SHAPE.fullmatch(token):
                    raise self._fail(
                        Unauthorized(
                            "the Bright Data API token is empty or holds characters "
                            "that cannot be sent in an HTTP header"
                        )
                    )
                self._token = token
            return self._token

    def _fail(self, exc: BrightDataError) -> BrightDataError:
        self.stats.record_error(exc.kind)
        return exc

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
            page = self._request("GET", endpoint, params=query)
            try:
                if not isinstance(page, dict):
                    raise BadResponse(
                        f"{endpoint}: expected an object, got {type(page).__name__}",
                        endpoint=endpoint,
                    )
                data = _objects(page.get("data"), "data", endpoint)
                total = _total_of(page, endpoint)
            except BadResponse as exc:
                raise self._fail(exc) from None
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
                raise self._fail(
                    BadResponse(f"{endpoint}: paging made no progress", endpoint=endpoint)
                )
            if total is not None:
                if offset >= total:
                    return items
            elif limit is None or len(data) < limit:
                return items
        raise self._fail(BadResponse(f"{endpoint}: more than {MAX_PAGES} pages", endpoint=endpoint))

    def _request(
        self,
        method: str,
        endpoint: Endpoint,
        *,
        job_id: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        empty_ok: bool = False,
    ) -> Any:
        path = endpoint.value
        if job_id is not None:
            path = path.format(id=quote(job_id, safe=""))
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params)
        token = self._bearer_token()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        encoded: bytes | None = None
        if body is not None:
            encoded = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"

        backoff_base, backoff_jitter, backoff_max = self._backoff
        context = _CallContext(
            endpoint=endpoint.value,
            deadline=self._clock() + self._budget,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            stats=self.stats,
        )
        retries = _BudgetRetry(
            total=self._max_attempts - 1,
            redirect=False,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset({429, 500, 502, 503, 504}),
            backoff_factor=backoff_base,
            backoff_jitter=backoff_jitter,
            backoff_max=backoff_max,
            respect_retry_after_header=True,
            raise_on_status=False,
            context=context,
        )
        self.stats.record_request(endpoint.value)
        try:
            response = self._pool.request(
                method,
                url,
                body=encoded,
                headers=headers,
                retries=retries,
                redirect=False,
                pool_timeout=self._budget,
            )
        except MaxRetryError as exc:
            raise self._fail(
                Transient(
                    f"{method} {endpoint} failed after {context.attempts} attempt(s): "
                    f"{_network_reason(exc.reason)}",
                    endpoint=endpoint.value,
                    job_id=job_id,
                )
            ) from exc
        except HTTPError as exc:
            raise self._fail(
                Transient(
                    f"{method} {endpoint} failed after {context.attempts} attempt(s): "
                    f"{_network_reason(exc)}",
                    endpoint=endpoint.value,
                    job_id=job_id,
                )
            ) from exc
        return self._decode(method, endpoint, job_id, response, retries, context, empty_ok)

    def _decode(
        self,
        method: str,
        endpoint: Endpoint,
        job_id: str | None,
        response: Any,
        retries: _BudgetRetry,
        context: _CallContext,
        empty_ok: bool,
    ) -> Any:
        status: int = response.status
        data: bytes = response.data or b""
        where = f"{method} {endpoint}"
        common: dict[str, Any] = {"status": status, "endpoint": endpoint.value, "job_id": job_id}
        if 200 <= status < 300:
            if empty_ok and not data.strip():
                return None
            try:
                return json.loads(data)
            except (ValueError, RecursionError):
                raise self._fail(
                    BadResponse(f"{where} answered {status} with a body that is not JSON", **common)
                ) from None
        detail = self._detail(data)
        if status in (401, 403):
            raise self._fail(Unauthorized(f"{where} was refused ({status}){detail}", **common))
        if status in (404, 410):
            raise self._fail(
                NotFound(f"{where}: not found or expired ({status}){detail}", **common)
            )
        if status == 429:
            retry_after = retries.get_retry_after(response)
            hint = f", retry after {retry_after:.0f} s" if retry_after is not None else ""
            raise self._fail(
                RateLimited(
                    f"{where} rate limited after {context.attempts} attempt(s){hint}",
                    retry_after=retry_after,
                    **common,
                )
            )
        if status >= 500:
            raise self._fail(
                Transient(
                    f"{where} answered {status} after {context.attempts} attempt(s){detail}",
                    **common,
                )
            )
        raise self._fail(BrightDataError(f"{where} answered {status}{detail}", **common))

    def _detail(self, data: bytes) -> str:
        """A short, token-free excerpt of the server's error text, for the message."""
        text = data.decode("utf-8", errors="replace").strip()
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            for key in ("error", "message", "msg"):
                if isinstance(parsed.get(key), str):
                    text = parsed[key]
                    break
        if self._token:
            text = text.replace(self._token, "[redacted]")
        text = " ".join(text.split())[:_DETAIL_CHARS]
        return f": {text!r}" if text else ""
