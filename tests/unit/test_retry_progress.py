"""Hearing of retries while they wait, without network: the shared policy tells the registered
observers of each wait before it sleeps, and the CLI's line says what failed, the wait and the
attempt, never a query, a header or a path that is not Bright Data's."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from job_alerts.cli.output import retry_progress
from job_alerts.http import (
    BudgetRetry,
    CallBudget,
    RetryWait,
    retry_policy,
    retry_waits_observed,
)

URL = "https://api.example.com/dca/log/j_x"
TOKEN = "secret-token-abc"


@dataclass
class Events:
    """What happened, in order: each observed wait and each sleep."""

    seen: list[object] = field(default_factory=list)
    now: float = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.seen.append(("sleep", seconds))
        self.now += seconds

    def observe(self, wait: RetryWait) -> None:
        self.seen.append(wait)


@dataclass
class Answer503:
    """What Retry.increment reads of an answer, and the dropping it does."""

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)

    def get_redirect_location(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def _policy(events: Events, *, attempts: int = 4) -> BudgetRetry:
    budget = CallBudget.lasting(60, clock=events.clock, sleep=events.sleep, rng=lambda: 0.0)
    return retry_policy(budget, max_attempts=attempts, methods={"GET"})


def test_retry_waits_observed_hears_each_wait_before_its_sleep() -> None:
    # Given an observer registered and a policy of 4 attempts
    events = Events()
    retry = _policy(events)
    with retry_waits_observed(events.observe):
        # When a 503 and then a read timeout are retried
        retry = retry.increment("GET", "/dca/log/j_x?token=" + TOKEN, response=Answer503())
        retry.sleep()
        timeout = ReadTimeoutError(None, URL, "timed out")  # type: ignore[arg-type]
        retry = retry.increment("GET", URL, error=timeout)
        retry.sleep()

    # Then each wait was told before it was slept, with what failed and the attempt that follows
    assert events.seen == [
        RetryWait("GET", "/dca/log/j_x", 503, None, 1.0, attempt=2, max_attempts=4),
        ("sleep", 1.0),
        RetryWait("GET", "/dca/log/j_x", None, "read timed out", 2.0, attempt=3, max_attempts=4),
        ("sleep", 2.0),
    ]
    # and the query (which could hold anything) never reached the observer
    assert TOKEN not in repr(events.seen)


def test_retry_waits_observed_ends_with_its_block() -> None:
    # Given an observer whose block has ended
    events = Events()
    retry = _policy(events)
    with retry_waits_observed(events.observe):
        pass

    # When a call is retried afterwards
    retry.increment("GET", URL, response=Answer503()).sleep()

    # Then only the sleep happened: nobody was told
    assert events.seen == [("sleep", 1.0)]


def test_retry_waits_observed_tells_nobody_of_a_retry_it_refuses() -> None:
    # Given a budget too short for the 1 s wait a retry needs
    events = Events()
    budget = CallBudget.lasting(0.5, clock=events.clock, sleep=events.sleep, rng=lambda: 0.0)
    retry = retry_policy(budget, max_attempts=4, methods={"GET"})

    # When the call fails, Then it is not retried, and no wait was announced
    with retry_waits_observed(events.observe), pytest.raises(MaxRetryError):
        retry.increment("GET", URL, response=Answer503())
    assert events.seen == []


@pytest.mark.parametrize(
    ("wait", "line"),
    [
        (
            RetryWait("GET", "/dca/log/j_x", 503, None, 2.0, 2, 4),
            "job-alerts: Bright Data answered 503 for GET /dca/log/j_x; "
            "retrying in 2 s (attempt 2 of 4)",
        ),
        (
            RetryWait("GET", "/dca/collector/jobs", None, "read timed out", 1.25, 3, 4),
            "job-alerts: Bright Data did not answer GET /dca/collector/jobs (read timed out); "
            "retrying in 1.3 s (attempt 3 of 4)",
        ),
        (
            RetryWait("GET", "/dca/log/j_x", 429, None, 30.0, 2, None),
            "job-alerts: Bright Data answered 429 for GET /dca/log/j_x; "
            "retrying in 30 s (attempt 2)",
        ),
        # A path that is not Bright Data's may be a secret (a Slack webhook's is): not shown.
        (
            RetryWait("POST", "/services/T0/B0/" + TOKEN, 500, None, 1.0, 2, 3),
            "job-alerts: an HTTP call answered 500; retrying in 1 s (attempt 2 of 3)",
        ),
        (
            RetryWait("POST", "/services/T0/B0/" + TOKEN, None, "connection failed", 1.0, 2, 3),
            "job-alerts: an HTTP call got no answer (connection failed); "
            "retrying in 1 s (attempt 2 of 3)",
        ),
    ],
)
def test_retry_progress_says_what_failed_the_wait_and_the_attempt(
    wait: RetryWait, line: str
) -> None:
    assert retry_progress(wait) == line
