"""The shared HTTP policy without network: backoff and Retry-After inside a call's deadline,
attempts cut to the deadline, and the excerpt that makes untrusted answers safe to quote."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from job_alerts.http import (
    SAMPLE_CHARS,
    BudgetRetry,
    CallBudget,
    DeadlineTimeout,
    excerpt,
    retry_after_seconds,
    retry_policy,
)
from tests.support import FakeTime

URL = "https://api.example.com/dca/log/j_x"


@dataclass
class FakeAnswer:
    """What Retry.increment looks at in an answer, and whether it was dropped."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    closed: bool = False
    released: bool = False

    def get_redirect_location(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


def _policy(
    fake: FakeTime, *, seconds: float = 60, rng: float = 0.0, attempts: int = 6
) -> tuple[BudgetRetry, CallBudget, list[int]]:
    retried: list[int] = []
    budget = CallBudget.lasting(
        seconds,
        clock=fake.clock,
        sleep=fake.sleep,
        rng=lambda: rng,
        on_retry=lambda: retried.append(1),
    )
    return retry_policy(budget, max_attempts=attempts, methods={"GET"}), budget, retried


def _retry_once(retry: BudgetRetry, answer: FakeAnswer | None = None) -> BudgetRetry:
    error = None if answer else ReadTimeoutError(None, URL, "timed out")  # type: ignore[arg-type]
    fresh = retry.increment("GET", URL, response=answer, error=error)
    fresh.sleep()
    return fresh


def test_retry_backs_off_1_2_4_seconds_plus_jitter() -> None:
    # Given a policy whose jitter draw is always half of the 0.5 s jitter
    fake = FakeTime()
    retry, budget, retried = _policy(fake, rng=0.5)
    # When three failures in a row are retried
    for _ in range(3):
        retry = _retry_once(retry, FakeAnswer(503))
    # Then the waits were 1, 2 and 4 s, each plus 0.25 s, and every retry was counted
    assert fake.sleeps == [1.25, 2.25, 4.25]
    assert budget.attempts == 4
    assert len(retried) == 3


@pytest.mark.parametrize("header", ["7", " 7 "])
def test_retry_waits_what_retry_after_says_in_seconds(header: str) -> None:
    fake = FakeTime()
    retry, _, _ = _policy(fake)
    _retry_once(retry, FakeAnswer(429, {"Retry-After": header}))
    assert fake.sleeps == [7]


def test_retry_waits_until_a_retry_after_http_date() -> None:
    # Given a Retry-After naming a moment 30 s from now (HTTP dates have 1 s resolution)
    fake = FakeTime()
    retry, _, _ = _policy(fake)
    moment = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    # When the 429 is retried / Then the wait lasts until about then
    _retry_once(retry, FakeAnswer(429, {"Retry-After": moment}))
    assert len(fake.sleeps) == 1
    assert 28 <= fake.sleeps[0] <= 30


def test_retry_falls_back_to_backoff_for_an_unreadable_retry_after() -> None:
    fake = FakeTime()
    retry, _, _ = _policy(fake)
    _retry_once(retry, FakeAnswer(429, {"Retry-After": "soon, maybe"}))
    assert fake.sleeps == [1.0]


def test_retry_refuses_a_wait_past_the_deadline_and_keeps_the_answer() -> None:
    # Given 5 s left and a server asking for a minute
    fake = FakeTime()
    retry, budget, retried = _policy(fake, seconds=5)
    answer = FakeAnswer(429, {"Retry-After": "60"})
    # When the policy is asked to retry
    with pytest.raises(MaxRetryError):
        retry.increment("GET", URL, response=answer)
    # Then it did not sleep, says which wait it refused, and left the answer for the caller
    assert fake.sleeps == []
    assert budget.refused_wait == 60
    assert budget.attempts == 1
    assert retried == []
    assert not answer.closed


def test_retry_stops_when_the_backoff_no_longer_fits() -> None:
    # Given 5 s: waits of 1 and 2 s fit, the next 4 s would end past the deadline
    fake = FakeTime()
    retry, budget, _ = _policy(fake, seconds=5)
    retry = _retry_once(retry)
    retry = _retry_once(retry)
    with pytest.raises(MaxRetryError):
        _retry_once(retry)
    assert fake.sleeps == [1.0, 2.0]
    assert budget.refused_wait == 4.0


def test_retry_drops_a_retried_answer_unread() -> None:
    # Given a 503 whose body could be huge or slow
    fake = FakeTime()
    retry, _, _ = _policy(fake)
    answer = FakeAnswer(503)
    # When it is retried / Then its connection was closed and given back, not drained
    _retry_once(retry, answer)
    assert answer.closed
    assert answer.released


def test_retry_gives_up_after_max_attempts() -> None:
    fake = FakeTime()
    retry, budget, _ = _policy(fake, attempts=2)
    retry = _retry_once(retry, FakeAnswer(500))
    with pytest.raises(MaxRetryError):
        retry.increment("GET", URL, response=FakeAnswer(500))
    assert budget.attempts == 2
    assert budget.refused_wait is None


@pytest.mark.parametrize(
    ("status", "retried"),
    [(429, True), (500, True), (503, True), (599, True), (400, False), (404, False), (413, False)],
)
def test_retry_policy_retries_429_and_5xx_only(status: int, retried: bool) -> None:
    retry, _, _ = _policy(FakeTime())
    assert retry.is_retry("GET", status, has_retry_after=True) is retried


def test_retry_policy_never_retries_a_method_it_was_not_given() -> None:
    retry, _, _ = _policy(FakeTime())
    assert retry.is_retry("POST", 503) is False


def test_deadline_timeout_cuts_each_attempt_to_the_time_left() -> None:
    # Given a call with 2 s left and timeouts of 3 s (connect) and 10 s (read)
    fake = FakeTime()
    budget = CallBudget.lasting(2, clock=fake.clock)
    timeout = DeadlineTimeout(3, 10, budget)
    # Then an attempt starting now gets 2 s for each, whichever copy urllib3 uses
    assert (timeout.connect_timeout, timeout.read_timeout) == (2, 2)
    assert timeout.clone().read_timeout == 2
    # And past the deadline only the smallest timeout urllib3 accepts
    fake.now += 5
    assert 0 < timeout.clone().read_timeout <= 0.01


def test_deadline_timeout_keeps_shorter_timeouts() -> None:
    budget = CallBudget.lasting(60, clock=FakeTime().clock)
    timeout = DeadlineTimeout(1, 4, budget)
    assert (timeout.connect_timeout, timeout.read_timeout) == (1, 4)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "12"}, 12), ({}, None), ({"Retry-After": "later"}, None)],
)
def test_retry_after_seconds_reads_the_header(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(headers) == expected


# ---- excerpt --------------------------------------------------------------------------------


def test_excerpt_redacts_secrets_before_anything_else() -> None:
    shown = excerpt(b"denied for Bearer tok-SECRET-1 (tok-SECRET-1)", secrets=["tok-SECRET-1"])
    assert "tok-SECRET" not in shown
    assert shown == "denied for Bearer [redacted] ([redacted])"


def test_excerpt_is_one_short_escaped_line() -> None:
    # Given a page with newlines, tabs, a terminal escape, non-ASCII text and no end
    text = "<html>\n\t<title>Caf\u00e9 \u2615</title>\x1b[31m\r\n" + "x" * 10_000
    # When excerpted
    shown = excerpt(text.encode())
    # Then it is one printable ASCII line of at most SAMPLE_CHARS, cut visibly
    assert len(shown) <= SAMPLE_CHARS
    assert shown.isascii()
    assert shown.isprintable()
    assert shown.startswith("<html> <title>Caf\\xe9 \\u2615</title>\\x1b[31m x")
    assert shown.endswith("...")


def test_excerpt_keeps_short_text_whole() -> None:
    assert excerpt("Automation not allowed") == "Automation not allowed"
    assert excerpt(b"") == ""


def test_excerpt_survives_bytes_that_are_not_utf8() -> None:
    shown = excerpt(b"\xff\xfe bad \xc3")
    assert shown.isascii()
    assert "bad" in shown
