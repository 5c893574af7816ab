"""The Bright Data DCA API client: pooled HTTP calls under the shared retry and deadline policy
(job_alerts.http), listings read page by page, and call statistics. What an answer means is
decided in `answers`; the errors it raises are in `errors`."""

from __future__ import annotations

import functools
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Final, Protocol, Self, runtime_checkable
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import parse_url

from job_alerts import ids
from job_alerts.brightdata import answers
from job_alerts.brightdata.answers import Call, Reply, RerunStarted
from job_alerts.brightdata.errors import BrightDataError, Endpoint, Unauthorized, checked_id
from job_alerts.http import (
    DEFAULT_MAX_BODY_BYTES,
    BodyDeadline,
    BodyTooLarge,
    CallBudget,
    DeadlineTimeout,
    fetch,
    retry_policy,
)

__all__ = ["JOBS_PAGE_LIMIT", "MAX_PAGES", "BrightDataClient", "CallStats", "RefreshableToken"]

JOBS_PAGE_LIMIT: Final = 500  # the API's maximum page size for /dca/collector/jobs
# Guards against a server that ignores `offset` and would otherwise be paged forever.
MAX_PAGES: Final = 10_000
# A header value may only hold visible ASCII; anything else would make http.client raise an
# error whose message quotes the whole header, token included.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")


@runtime_checkable
class RefreshableToken(Protocol):
    """A token source that may answer from a cache: calling it gives the token, `refresh()`
    reads it afresh. Given one, the client reads it afresh once when Bright Data refuses the
    token it holds (401), so a rotated token is used at once rather than when a cache expires."""

    def __call__(self) -> str: ...

    def refresh(self) -> str: ...


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


class BrightDataClient:
    """One pooled, thread-safe client for the DCA endpoints the monitor reads.

    GET calls are retried on 429/5xx, timeouts and dropped connections with exponential
    backoff (backoff_base * 2**n plus jitter) or the server's Retry-After; POST (rerun) is not
    idempotent, so it is retried only when the connection could not be opened. Each HTTP call
    (each page of a listing) has `call_budget_seconds` from its start: no wait runs past it,
    each attempt's timeouts are cut to it, and a body still arriving when it ends is abandoned,
    so a call lasts at most about the budget plus one read timeout. Bodies are read in chunks;
    one larger than `max_body_bytes` is abandoned (ResponseTooLarge).

    `token` is the token, or a callable giving it, read on the first call; a RefreshableToken
    is also read afresh once if Bright Data refuses it (401), and the call tried again with a
    value that changed (a rotated token).
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
        self._token_refreshed = False
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
        with self._errors_counted():
            return self._paged(Endpoint.COLLECTORS_LIST, {}, page_limit=None)

    def list_jobs(self, collector_id: str, from_date: date, to_date: date) -> list[dict]:
        """Every job of a collector created in the day window from_date..to_date (inclusive),
        newest first, read page by page (500 a page) until `total` is reached."""
        collector = checked_id(ids.validate_collector_id, collector_id, Endpoint.COLLECTOR_JOBS)
        first, last = _as_day(from_date, "from_date"), _as_day(to_date, "to_date")
        if first > last:
            raise ValueError("from_date is after to_date")
        params = {
            "collector": collector,
            "from_date": first.isoformat(),
            "to_date": last.isoformat(),
            "sort_asc": "-1",
        }
        with self._errors_counted():
            return self._paged(Endpoint.COLLECTOR_JOBS, params, page_limit=JOBS_PAGE_LIMIT)

    def get_log(self, job_id: str) -> dict:
        """The raw JSON object of /dca/log/{id} (key casing as the API sent it)."""
        job = checked_id(ids.validate_job_id, job_id, Endpoint.LOG)
        with self._errors_counted():
            payload = self._request("GET", Endpoint.LOG, job_id=job).payload
        assert payload is not None  # only empty_ok calls may answer nothing
        return payload

    def get_errors(self, job_id: str, *, limit: int = 50) -> list[dict]:
        """At most `limit` per-input errors ({url, error, consumer}) of a job; [] when none."""
        job = checked_id(ids.validate_job_id, job_id, Endpoint.HP_ERRORS)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError("limit must be a non-negative int")
        with self._errors_counted():
            reply = self._request("GET", Endpoint.HP_ERRORS, job_id=job, empty_ok=True)
            if reply.payload is None:
                return []
            return answers.objects(reply, "errors")[:limit]

    def rerun(self, job_id: str, *, failed_only: bool = True) -> RerunStarted:
        """Start a new job in the same collector re-running the failed inputs of `job_id` (all
        its inputs when not `failed_only`); the new job's id and start_eta.

        A rerun is not idempotent and spends credits: the caller must first claim it with a
        conditional write (so that overlapping runs ask once), and must not ask again for the
        same job whatever this raises. The POST itself is sent at most once: it is retried only
        when the connection could not be opened (nothing was sent). A timeout, a dropped
        connection or a 5xx once it may have reached the server raise Transient (the job may
        have started); a 429 raises RateLimited at once, with `retry_after` when given, since
        waiting inside the call budget rarely helps and the caller may try on a later run.
        401, 403 and 404 raise Unauthorized, Forbidden and NotFound as for reads; an answer
        without a valid new job id raises BadResponse.
        """
        job = checked_id(ids.validate_job_id, job_id, Endpoint.RERUN)
        # Without a body Bright Data reruns every input.
        body = {"failed_only": 1} if failed_only else None
        with self._errors_counted():
            reply = self._request("POST", Endpoint.RERUN, job_id=job, body=body)
            return answers.rerun_started(reply)

    # -- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _errors_counted(self) -> Iterator[None]:
        """Count every BrightDataError a call raises once its ids were accepted."""
        try:
            yield
        except BrightDataError as exc:
            self.stats.record_error(exc.kind)
            raise

    def _bearer_token(self, endpoint: Endpoint) -> str:
        with self._token_lock:
            if self._token is None:
                source = self._token_source
                self._token = _sendable(source() if callable(source) else source, endpoint)
            return self._token

    def _renewed_token(self, refused: str, error: Unauthorized) -> str | None:
        """After a 401 for `refused`: the token to try once more, or None when the 401 stands.
        A refreshable source is read afresh once in the client's life (a run), under the lock,
        so calls refused together wait for that one read and retry with its value."""
        with self._token_lock:
            if self._token != refused:
                return self._token  # another call has renewed it already
            source = self._token_source
            if self._token_refreshed or not isinstance(source, RefreshableToken):
                return None
            self._token_refreshed = True
            try:
                raw = source.refresh()
            except Exception as exc:
                # The 401 stands and is handled like any refused call; a source that keeps
                # failing raises from its next uncached read, where no 401 is there to handle.
                error.add_note(f"reading the token again failed: {type(exc).__name__}")
                return None
            fresh = _sendable(raw, error.endpoint)
            if fresh == refused:
                return None
            self._token = fresh
            return fresh

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
            data = answers.objects(reply, "data")
            total = answers.total(reply)
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
                raise answers.paging_error(reply, "paging made no progress")
            if total is not None:
                if offset >= total:
                    return items
            elif limit is None or len(data) < limit:
                return items
        raise answers.paging_error(reply, f"more than {MAX_PAGES} pages")

    def _request(
        self,
        method: str,
        endpoint: Endpoint,
        *,
        job_id: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        empty_ok: bool = False,
    ) -> Reply:
        """One call with the token held; refused (401), once more with a renewed token, if the
        source has one. A 401 means nothing was done, so even a POST may be sent again."""
        token = self._bearer_token(endpoint)
        send = functools.partial(
            self._send, method, endpoint, job_id=job_id, params=params, body=body, empty_ok=empty_ok
        )
        try:
            return send(token)
        except Unauthorized as refused:
            renewed = self._renewed_token(token, refused)
            if renewed is None:
                raise
        return send(renewed)

    def _send(
        self,
        method: str,
        endpoint: Endpoint,
        token: str,
        *,
        job_id: str | None,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        empty_ok: bool,
    ) -> Reply:
        path = endpoint.value
        if job_id is not None:
            path = path.format(id=quote(job_id, safe=""))
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params)
        call = Call(method, endpoint, job_id, token)
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
        except (BodyTooLarge, BodyDeadline) as exc:
            raise self._transport_error(exc, call, budget) from None
        except HTTPError as exc:
            # Chained for debugging: urllib3's errors quote the URL, never the headers.
            raise self._transport_error(exc, call, budget) from exc
        return answers.decode(answer, call, attempts=budget.attempts, empty_ok=empty_ok)

    def _transport_error(
        self, exc: BodyTooLarge | BodyDeadline | HTTPError, call: Call, budget: CallBudget
    ) -> BrightDataError:
        return answers.transport_error(
            exc, call, attempts=budget.attempts, budget_seconds=self._budget
        )


def _sendable(raw: object, endpoint: Endpoint | None) -> str:
    """The token as it goes in the header, or Unauthorized (naming no part of it) when it is
    empty or holds what a header cannot carry."""
    token = raw.strip() if isinstance(raw, str) else ""
    if not _TOKEN_SHAPE.fullmatch(token):
        raise Unauthorized(
            "the Bright Data API token is empty or holds characters "
            "that cannot be sent in an HTTP header",
            endpoint=endpoint,
        )
    return token
