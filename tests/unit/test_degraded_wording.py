"""The DEGRADED "API unreachable" alert says what happened: how many listings and job reads were
tried and failed (0 of 0 reads when the listing failed first, never "most reads failed") and the
real error, not only its kind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from job_alerts.alerts import AlertKind
from job_alerts.brightdata import BrightDataError, Endpoint, RateLimited, Transient
from job_alerts.decide import assess_health, decide_health
from job_alerts.models import Health, HealthState

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
LISTING_DOWN = Transient(
    "GET /dca/collectors_list answered 503 after 4 attempts: upstream maintenance",
    status=503,
    endpoint=Endpoint.COLLECTORS_LIST,
)
READ_DOWN = Transient(
    "GET /dca/log/j_1 read timed out after 4 attempts", endpoint=Endpoint.LOG, job_id="j_1"
)
RATE_LIMITED = RateLimited("GET /dca/log/j_3 answered 429: too many requests", retry_after=60)


def degraded_message(
    *,
    listing_failures: int,
    listing_attempts: int,
    read_errors: Sequence[BrightDataError],
    reads: int,
    refused: Sequence[BrightDataError] = (),
) -> str:
    """The message of the alert a healthy monitor sends after this run."""
    assessment = assess_health(
        token_rejected=False,
        listing_failures=listing_failures,
        listing_attempts=listing_attempts,
        read_errors=read_errors,
        reads=reads,
        refused=refused,
    )
    assert assessment.state is HealthState.API_UNREACHABLE
    decision = decide_health(Health(), assessment, NOW)
    assert decision is not None
    (entry,) = decision.entries
    assert entry.kind is AlertKind.DEGRADED
    return entry.message


def test_degraded_with_no_read_tried_counts_the_failed_listing_and_quotes_its_error() -> None:
    # Given a run whose only listing failed, so no job read was tried
    message = degraded_message(
        listing_failures=1,
        listing_attempts=1,
        read_errors=[],
        reads=0,
        refused=[LISTING_DOWN],
    )
    # Then the alert counts what was tried and failed, reads included (none)
    assert "1 of 1 listings and 0 of 0 job reads failed" in message
    assert "most reads failed" not in message
    # and quotes the error itself, not only its kind
    assert f"last error: {LISTING_DOWN}" in message
    assert "upstream maintenance" in message


@pytest.mark.parametrize(
    ("read_errors", "reads", "counts", "last"),
    [
        ([READ_DOWN] * 3, 4, "0 of 1 listings and 3 of 4 job reads failed", READ_DOWN),
        ([READ_DOWN, RATE_LIMITED], 2, "0 of 1 listings and 2 of 2 job reads failed", RATE_LIMITED),
    ],
)
def test_degraded_after_failed_reads_counts_them_and_quotes_the_last_error(
    read_errors: list[BrightDataError], reads: int, counts: str, last: BrightDataError
) -> None:
    # Given a run whose listing worked and most of whose reads failed
    message = degraded_message(
        listing_failures=0, listing_attempts=1, read_errors=read_errors, reads=reads
    )
    # Then the alert counts them and quotes the last failure
    assert counts in message
    assert f"last error: {last}" in message


def test_degraded_quotes_at_most_200_characters_of_the_error() -> None:
    # Given a listing error with a very long text
    long_error = Transient("GET /dca/collectors_list answered 502: " + "x" * 500)
    message = degraded_message(
        listing_failures=1, listing_attempts=1, read_errors=[], reads=0, refused=[long_error]
    )
    # Then its first 200 characters are quoted, and no more
    quoted = message.split("last error: ", 1)[1]
    assert quoted.startswith(str(long_error)[:200])
    assert str(long_error)[:201] not in message
