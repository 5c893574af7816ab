"""The HTTP policy every outside call shares (Bright Data, Slack): retries with 1 s / 2 s / 4 s
backoff plus jitter or the server's Retry-After, all inside one deadline per call; per-attempt
timeouts cut to that deadline; a body reader that stops at a size cap or at the deadline; and
the observers a process may register to hear of each retry before its wait."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

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
    "DEFAULT_MAX_BODY_BYTES",
    "RETRYABLE_STATUSES",
    "SAMPLE_CHARS",
    "Answer",
    "BodyDeadline",
    "BodyTooLarge",
    "BudgetRetry",
    "CallBudget",
    "DeadlineTimeout",
    "RetryObserver",
    "RetryWait",
    "excerpt",
    "fetch",
    "network_reason",
    "retry_after_seconds",
    "retry_policy",
    "retry_waits_observed",
]

DEFAULT_MAX_BODY_BYTES: Final = 1 << 20
# An error answer is read only for the words it holds; more than this is noise.
ERROR_BODY_BYTES: Final = 4096
_CHUNK_BYTES: Final = 64 * 1024
# urllib3 refuses a zero timeout; a call past its deadline still gets this much to fail fast.
_MIN_TIMEOUT: Final = 0.01
SAMPLE_CHARS: Final = 120
RETRYABLE_STATUSES: Final = frozenset({429, *range(500, 600)})
BACKOFF_BASE: Final = 1.0
BACKOFF_JITTER: Final = 0.5


@dataclass
class CallBudget:
    """One logical call and its retries: the deadline (on `clock`), how it sleeps and draws
    jitter, how many HTTP attempts it made, and the wait it refused because it would have ended
    past the deadline (None when it stopped for another reason)."""

    deadline: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    on_retry: Callable[[], None] | None = None
    attempts: int = 1
    refused_wait: float | None = None

    @classmethod
    def lasting(
        cls,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: Callable[[], None] | None = None,
    ) -> Self:
        return cls(clock() + seconds, clock, sleep, rng, on_retry)

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def cap(self, seconds: float) -> float:
        """`seconds`, shortened to the time left (never below urllib3's smallest timeout)."""
        return max(_MIN_TIMEOUT, min(seconds, self.remaining()))


@dataclass(frozen=True)
class RetryWait:
    """A retry about to wait: the call (method and URL path; never the query, headers or
    body), what failed (the answer's status, or the network reason when none came), the wait,
    and which attempt comes after it, of how many (None when the policy was given no number).
    A path may itself be a secret (a Slack webhook's is): an observer that shows it must know
    whose call it is."""

    method: str
    path: str
    status: int | None
    reason: str | None
    delay: float
    attempt: int
    max_attempts: int | None


RetryObserver = Callable[[RetryWait], None]

# Process-wide, not per call: a process that wants to hear of waits (the CLI) registers once and
# every client and thread is covered; the Lambda functions register none.
_observers: tuple[RetryObserver, ...] = ()
_observers_lock = threading.Lock()


@contextlib.contextmanager
def retry_waits_observed(observer: RetryObserver) -> Iterator[None]:
    """Tell `observer` of every retry's wait, in any thread of this process, until the block
    ends. It is called just before the wait from the thread that will wait."""
    global _observers
    with _observers_lock:
        _observers = (*_observers, observer)
    try:
        yield
    finally:
        with _observers_lock:
            remaining = list(_observers)
            remaining.remove(observer)
            _observers = tuple(remaining)


class DeadlineTimeout(Timeout):
    """Connect and read timeouts, each cut to the time left before the call's deadline when an
    attempt starts, so the last attempt cannot run a full read timeout past it."""

    def __init__(self, connect: float, read: float, budget: CallBudget) -> None:
        super().__init__(connect=connect, read=read)
        self.connect_seconds = connect
        self.read_seconds = read
        self.budget = budget

    def clone(self) -> DeadlineTimeout:
        # urllib3 clones the timeout for every attempt: keep the deadline.
        return DeadlineTimeout(self.connect_seconds, self.read_seconds, self.budget)

    @property
    def connect_timeout(self) -> float:
        return self.budget.cap(self.connect_seconds)

    @property
    def read_timeout(self) -> float:
        return self.budget.cap(self.read_seconds)


class BudgetRetry(Retry):
    """urllib3 Retry with the project's policy: the first retry already waits (1 s, 2 s, 4 s …
    plus jitter from the budget's rng), Retry-After (seconds or an HTTP date) replaces the
    backoff, a wait that would end past the deadline stops the retries instead, sleeping goes
    through the budget's sleep (tests need not wait), an answer that is retried is dropped
    unread, so a slow or huge error body costs nothing, and the registered observers hear of
    each wait before it (see retry_waits_observed)."""

    # 413 is not something waiting fixes, whatever Retry-After says.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(
        self,
        *args: Any,
        budget: CallBudget | None = None,
        max_attempts: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.max_attempts = max_attempts
        self.planned_delay = 0.0

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.budget = self.budget
        fresh.max_attempts = self.max_attempts
        return fresh

    def get_backoff_time(self) -> float:
        # Redirects are never followed, so every history entry is a failure.
        failures = len(self.history)
        if failures == 0:
            return 0.0
        rng = self.budget.rng if self.budget else random.random
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
        budget = self.budget
        if budget is None:
            return fresh
        delay = fresh._delay_before_next(response)
        if budget.clock() + delay > budget.deadline:
            # With raise_on_status off, urllib3 hands the last answer (e.g. the 429) back to the
            # caller, which still has to read it: leave it untouched.
            budget.refused_wait = delay
            raise MaxRetryError(_pool, url or "", error or ResponseError("call budget exhausted"))
        if response is not None:
            _discard(response)
        fresh.planned_delay = delay
        budget.attempts += 1
        if budget.on_retry is not None:
            budget.on_retry()
        _tell_observers(method, url, response, error, delay, budget.attempts, self.max_attempts)
        return fresh

    def sleep(self, response: Any = None) -> None:
        if self.budget is None:
            super().sleep(response)
        elif self.planned_delay > 0:
            self.budget.sleep(self.planned_delay)


def _tell_observers(
    method: str | None,
    url: str | None,
    response: Any,
    error: Exception | None,
    delay: float,
    attempt: int,
    max_attempts: int | None,
) -> None:
    observers = _observers
    if not observers:
        return
    wait = RetryWait(
        method=method or "",
        # urllib3 passes the request target (path and query), fetch the whole URL.
        path=parse_url(url or "").path or "/",
        status=int(response.status) if response is not None else None,
        reason=None if response is not None else network_reason(error),
        delay=delay,
        attempt=attempt,
        max_attempts=max_attempts,
    )
    for observer in observers:
        observer(wait)


def retry_policy(
    budget: CallBudget,
    *,
    max_attempts: int,
    methods: Iterable[str],
    backoff_base: float = BACKOFF_BASE,
    backoff_jitter: float = BACKOFF_JITTER,
    backoff_max: float = 30.0,
) -> BudgetRetry:
    """The one retry policy: 429 and 5xx answers, timeouts and dropped connections are retried
    for `methods`; a connection that could not be opened is retried for any method (nothing
    was sent). Exhausted retries hand the last answer back instead of raising."""
    return BudgetRetry(
        total=max_attempts - 1,
        redirect=False,
        allowed_methods=frozenset(methods),
        status_forcelist=RETRYABLE_STATUSES,
        backoff_factor=backoff_base,
        backoff_jitter=backoff_jitter,
        backoff_max=backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        budget=budget,
        max_attempts=max_attempts,
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (it may be given in seconds or as an HTTP date); None when absent
    or unreadable."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return Retry().parse_retry_after(value)
    except InvalidHeader:
        return None


def network_reason(error: BaseException | None) -> str:
    """What went wrong on the wire, in words that never quote a URL."""
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


class BodyTooLarge(Exception):  # noqa: N818 - reads as what happened
    """More than the allowed bytes arrived (or were announced); nothing more was read."""

    def __init__(self, status: int, limit: int) -> None:
        super().__init__(f"the answer ({status}) is larger than {limit} bytes")
        self.status = status
        self.limit = limit


class BodyDeadline(Exception):  # noqa: N818 - reads as what happened
    """The call's deadline passed while the body was still arriving."""

    def __init__(self, status: int, received: int) -> None:
        super().__init__(f"the answer ({status}) was still arriving when the deadline passed")
        self.status = status
        self.received = received


@dataclass(frozen=True)
class Answer:
    """A complete answer: status, headers and the body read (see `fetch` for its limits)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def fetch(
    pool: urllib3.PoolManager,
    method: str,
    url: str,
    *,
    budget: CallBudget,
    retries: BudgetRetry,
    timeout: DeadlineTimeout,
    max_body: int = DEFAULT_MAX_BODY_BYTES,
    body_required: bool = True,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One call: the request with its retries, then the body, read in chunks within the
    deadline and never more than `max_body` bytes held.

    A 2xx body is required when `body_required`: beyond `max_body` it raises BodyTooLarge, past
    the deadline BodyDeadline, and a connection that drops mid-body is retried like any dropped
    connection (or re-raised when the method is not retried). Other bodies (errors, or any body
    when not required) are read only for their words: truncated to a few KiB, cut short at the
    deadline or a drop, never raising. Network failures raise urllib3's MaxRetryError or
    HTTPError, whose messages quote the URL: callers must not pass those on."""
    while True:
        response = pool.request(
            method,
            url,
            body=body,
            headers=dict(headers or {}),
            retries=retries,
            redirect=False,
            timeout=timeout,
            preload_content=False,
            pool_timeout=max(_MIN_TIMEOUT, budget.remaining()),
        )
        # urllib3 hands each attempt a new Retry; the answer carries the one that got it.
        if isinstance(response.retries, BudgetRetry):
            retries = response.retries
        status = int(response.status)
        if not (body_required and 200 <= status < 300):
            data = _read_words(response, budget, min(max_body, ERROR_BODY_BYTES), timeout)
            return Answer(status, response.headers, data)
        try:
            data = _read_body(response, budget, max_body, timeout)
        except (ProtocolError, ReadTimeoutError) as exc:
            # Raises MaxRetryError when retrying is over, or `exc` itself for a method that is
            # not retried once sent (a second POST could act twice).
            retries = retries.increment(method, url, error=exc)
            retries.sleep()
            continue
        return Answer(status, response.headers, data)


def _read_body(response: Any, budget: CallBudget, limit: int, timeout: DeadlineTimeout) -> bytes:
    status = int(response.status)
    declared = _content_length(response)
    if declared is not None and declared > limit:
        _discard(response)
        raise BodyTooLarge(status, limit)
    received = bytearray()
    finished = False
    try:
        while True:
            if budget.remaining() <= 0:
                raise BodyDeadline(status, len(received))
            _bound_next_read(response, budget.cap(timeout.read_seconds))
            try:
                chunk = response.read1(min(_CHUNK_BYTES, limit + 1 - len(received)))
            except ReadTimeoutError:
                if budget.remaining() <= 0:
                    raise BodyDeadline(status, len(received)) from None
                raise
            if not chunk:
                finished = True
                return bytes(received)
            received += chunk
            if len(received) > limit:
                raise BodyTooLarge(status, limit)
    finally:
        if finished:
            response.release_conn()
        else:
            _discard(response)


def _read_words(response: Any, budget: CallBudget, limit: int, timeout: DeadlineTimeout) -> bytes:
    """At most `limit` bytes of a body that only explains its status; whatever arrived when
    the deadline passes or the connection drops."""
    received = bytearray()
    finished = False
    try:
        while len(received) < limit and budget.remaining() > 0:
            _bound_next_read(response, budget.cap(timeout.read_seconds))
            chunk = response.read1(limit - len(received))
            if not chunk:
                finished = True
                break
            received += chunk
    except (HTTPError, OSError):
        pass  # the status already says what happened; a body cut short changes nothing
    finally:
        if finished:
            response.release_conn()
        else:
            _discard(response)
    return bytes(received)


def _content_length(response: Any) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _bound_next_read(response: Any, seconds: float) -> None:
    # The socket timeout bounds one read; the deadline check between reads bounds them all,
    # so a body trickling in byte by byte cannot outlast the call.
    connection = response.connection
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(seconds)


def _discard(response: Any) -> None:
    """Drop an answer without reading the rest of it: close its connection and give the pool
    slot back (the pool opens a fresh connection next time)."""
    response.close()
    response.release_conn()


def excerpt(
    data: bytes | str, *, secrets: Iterable[str | None] = (), limit: int = SAMPLE_CHARS
) -> str:
    """Untrusted text made safe to quote in one line: secrets redacted, whitespace collapsed,
    control and non-ASCII characters escaped, at most `limit` characters ('...' marks a cut)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    # Collapsing whitespace shrinks the text and escaping only grows it: this prefix is plenty.
    text = " ".join(text[: limit * 4].split())
    shown = text.encode("unicode_escape").decode("ascii")
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return shown
