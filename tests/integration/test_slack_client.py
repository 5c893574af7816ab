"""The Slack webhook client against the local Slack sink over real HTTP: what is retried and how
long it waits, what is given up at once, the time budget (slow answers included), the size of
what it reads, and that the webhook URL (a credential) never shows in an error."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from job_alerts.slack import SlackClient, SlackDeliveryError
from local.slack_sink import SlackSink
from tests.support import FakeTime, exception_texts

pytestmark = pytest.mark.integration

MESSAGE = {"text": "hello"}


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    with SlackSink() as running:
        yield running


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def _client(fake: FakeTime | None = None, **options: Any) -> SlackClient:
    settings: dict[str, Any] = {"rng": lambda: 0.0, "read_timeout": 2.0, "connect_timeout": 1.0}
    if fake is not None:
        settings.update(clock=fake.clock, sleep=fake.sleep)
    return SlackClient(**{**settings, **options})


def _assert_no_url(error: BaseException, sink: SlackSink) -> None:
    for text in exception_texts(error):
        assert sink.path not in text
        assert sink.url not in text


def test_slack_client_posts_once_on_2xx(sink: SlackSink, fake_time: FakeTime) -> None:
    _client(fake_time).post(sink.url, MESSAGE)
    assert sink.posts == [MESSAGE]
    assert fake_time.sleeps == []


def test_slack_client_waits_retry_after_seconds_on_429(
    sink: SlackSink, fake_time: FakeTime
) -> None:
    # Given Slack rate-limits once with Retry-After: 3
    sink.rate_limit(times=1, retry_after=3)
    # When a message is posted / Then it waited what Slack asked, then posted
    _client(fake_time).post(sink.url, MESSAGE)
    assert fake_time.sleeps == [3]
    assert [r.status for r in sink.requests] == [429, 200]


def test_slack_client_waits_until_a_retry_after_http_date(
    sink: SlackSink, fake_time: FakeTime
) -> None:
    # Given a Retry-After naming a moment about 3 s from now (HTTP dates have 1 s resolution)
    moment = datetime.now(UTC) + timedelta(seconds=3)
    sink.rate_limit(times=1, retry_after=format_datetime(moment, usegmt=True))
    _client(fake_time).post(sink.url, MESSAGE)
    assert len(fake_time.sleeps) == 1
    assert 1.0 < fake_time.sleeps[0] <= 3.5
    assert len(sink.posts) == 1


def test_slack_client_gives_up_at_once_when_retry_after_exceeds_the_budget(
    sink: SlackSink, fake_time: FakeTime
) -> None:
    # Given Slack asks for a minute and 10 s are left
    sink.rate_limit(times=1, retry_after=60)
    # When a message is posted
    with pytest.raises(SlackDeliveryError, match="429") as caught:
        _client(fake_time).post(sink.url, MESSAGE, budget_seconds=10)
    # Then it did not sleep in vain, and a later retry may still help (not permanent)
    assert fake_time.sleeps == []
    assert "next wait 1 min exceeds the time left" in str(caught.value)
    assert (caught.value.status, caught.value.permanent) == (429, False)
    assert len(sink.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_slack_client_retries_5xx_with_backoff_1_then_2_seconds(
    sink: SlackSink, fake_time: FakeTime, status: int
) -> None:
    sink.fail(times=2, status=status, body="upstream_trouble")
    _client(fake_time).post(sink.url, MESSAGE)
    assert fake_time.sleeps == [1.0, 2.0]
    assert [r.status for r in sink.requests] == [status, status, 200]


def test_slack_client_backoff_has_jitter(sink: SlackSink, fake_time: FakeTime) -> None:
    # Given a jitter draw of 0.5 on a 0.5 s jitter
    sink.fail(times=2)
    _client(fake_time, rng=lambda: 0.5).post(sink.url, MESSAGE)
    assert fake_time.sleeps == [1.25, 2.25]


def test_slack_client_retries_a_timeout(sink: SlackSink) -> None:
    # Given Slack holds the first request 1.5 s, longer than the 0.3 s read timeout
    sink.stall(seconds=1.5, times=1)
    started = time.monotonic()
    # When a message is posted
    _client(read_timeout=0.3, backoff_base=0.01).post(sink.url, MESSAGE)
    # Then it gave up on the first attempt after the read timeout and delivered on the next
    assert 0.3 <= time.monotonic() - started < 1.2
    assert sink.posts == [MESSAGE]


def test_slack_client_stops_retrying_when_the_budget_is_spent(
    sink: SlackSink, fake_time: FakeTime
) -> None:
    # Given Slack answers 500 to everything and only 5 s are left
    sink.fail(times=None)
    # When a message is posted
    with pytest.raises(SlackDeliveryError, match="time left") as caught:
        _client(fake_time, max_attempts=10).post(sink.url, MESSAGE, budget_seconds=5)
    # Then the waits stayed within the budget (1 + 2; the next 4 would overrun)
    assert fake_time.sleeps == [1.0, 2.0]
    assert "HTTP 500 internal_error" in str(caught.value)
    assert caught.value.status == 500


def test_slack_client_raises_after_the_last_attempt(sink: SlackSink, fake_time: FakeTime) -> None:
    sink.fail(times=None)
    with pytest.raises(SlackDeliveryError, match="failed after 4 attempt") as caught:
        _client(fake_time, max_attempts=4, budget_seconds=60).post(sink.url, MESSAGE)
    assert len(sink.requests) == 4
    assert caught.value.permanent is False
    _assert_no_url(caught.value, sink)


@pytest.mark.parametrize(
    ("path", "status", "answer"),
    [("", 400, "no_text"), ("/revoked", 404, "no_service")],
)
def test_slack_client_raises_permanent_errors_at_once(
    sink: SlackSink, fake_time: FakeTime, path: str, status: int, answer: str
) -> None:
    # Given a message Slack refuses (no text) or a revoked webhook
    url = sink.url.rsplit("/", 1)[0] + path if path else sink.url
    payload: dict[str, Any] = {"blocks": []} if status == 400 else MESSAGE
    # When it is posted
    with pytest.raises(SlackDeliveryError, match=f"HTTP {status} {answer}") as caught:
        _client(fake_time).post(url, payload)
    # Then once only, marked permanent, with Slack's words and without the URL
    assert len(sink.requests) == 1
    assert (caught.value.status, caught.value.permanent) == (status, True)
    assert fake_time.sleeps == []
    _assert_no_url(caught.value, sink)


def test_slack_client_trickling_answer_cannot_outlast_the_budget(sink: SlackSink) -> None:
    # Given Slack answers 500 with a body trickling one byte every 0.1 s (a minute in all),
    # each byte well within the 0.5 s read timeout, and a 1 s budget
    sink.fail(times=None, body="internal_error " * 40)
    sink.trickle(seconds=0.1, times=100)
    started = time.monotonic()
    # When a message is posted
    with pytest.raises(SlackDeliveryError, match="HTTP 500") as caught:
        _client(read_timeout=0.5, backoff_base=0.05, budget_seconds=1.0).post(sink.url, MESSAGE)
    # Then it ends within the budget plus one read timeout, quoting what had arrived
    assert time.monotonic() - started < 1.5
    assert len(str(caught.value)) < 300
    _assert_no_url(caught.value, sink)


def test_slack_client_stall_is_cut_at_the_budget(sink: SlackSink) -> None:
    # Given Slack holds the request 2 s, the read timeout is 10 s, the budget 0.5 s
    sink.stall(seconds=2.0, times=1)
    started = time.monotonic()
    # When a message is posted / Then the attempt was cut at the budget
    with pytest.raises(SlackDeliveryError, match="ReadTimeoutError") as caught:
        _client(read_timeout=10.0).post(sink.url, MESSAGE, budget_seconds=0.5)
    assert time.monotonic() - started < 1.0
    _assert_no_url(caught.value, sink)


def test_slack_client_reads_only_the_start_of_a_huge_answer(sink: SlackSink) -> None:
    # Given Slack answering 500 with 20 MB, made before memory is traced
    sink.fail(times=None, body=b"x" * 20_000_000)
    client = _client(max_attempts=1)
    # When a message is posted, with memory traced
    tracemalloc.start()
    try:
        with pytest.raises(SlackDeliveryError, match="HTTP 500") as caught:
            client.post(sink.url, MESSAGE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then it read a few KiB at most and quotes a short excerpt
    assert peak < 2 * (1 << 20)
    assert len(str(caught.value)) < 300


def test_slack_client_connection_refused_raises_without_the_url(fake_time: FakeTime) -> None:
    # Given a sink that is no longer listening
    with SlackSink() as gone:
        url = gone.url
    # When a message is posted
    with pytest.raises(SlackDeliveryError, match="NewConnectionError") as caught:
        _client(fake_time, max_attempts=2).post(url, MESSAGE)
    # Then the error names the failure, never the URL
    assert fake_time.sleeps == [1.0]
    for text in exception_texts(caught.value):
        assert url not in text
        assert "/services/" not in text
