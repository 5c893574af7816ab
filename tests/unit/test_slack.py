"""Slack webhook client and SNS-record delivery, without network: a scripted connection pool
answers each request, a fake clock advances when the client sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3

from job_alerts.alerts import AlertKind, to_document
from job_alerts.slack import DeliveryReport, SlackClient, SlackDeliveryError, deliver_sns_event
from tests.unit.test_alert_render import CASES

WEBHOOK = "https://hooks.slack.com/services/T000SECRET/B000SECRET/verysecrettoken000"
SECRET_PARTS = ("T000SECRET", "verysecrettoken000", "hooks.slack.com")


@dataclass
class FakeResponse:
    status: int
    data: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


Answer = FakeResponse | Exception


class ScriptedPool:
    """Answers requests from a script; the last answer repeats forever."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.bodies: list[Any] = []

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        assert method == "POST"
        assert kwargs["retries"] is False
        self.bodies.append(json.loads(kwargs["body"]))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _client(pool: ScriptedPool, time: FakeTime, **options: Any) -> SlackClient:
    return SlackClient(pool=pool, sleep=time.sleep, clock=time.clock, **options)  # type: ignore[arg-type]


def _assert_no_secret(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text


def test_post_succeeds_on_2xx_without_waiting() -> None:
    # Given Slack answers 200
    pool, time = ScriptedPool(FakeResponse(200)), FakeTime()
    # When a payload is posted
    _client(pool, time).post(WEBHOOK, {"text": "hi"})
    # Then it was sent once, as JSON, with no wait
    assert pool.bodies == [{"text": "hi"}]
    assert time.sleeps == []


def test_post_waits_retry_after_on_429_then_succeeds() -> None:
    # Given Slack rate-limits once with Retry-After: 3
    pool = ScriptedPool(FakeResponse(429, b"rate_limited", {"Retry-After": "3"}), FakeResponse(200))
    time = FakeTime()
    # When a payload is posted
    _client(pool, time).post(WEBHOOK, {"text": "hi"})
    # Then it waited exactly what Slack asked and posted again
    assert time.sleeps == [3.0]
    assert len(pool.bodies) == 2


def test_post_gives_up_when_retry_after_exceeds_the_budget() -> None:
    # Given Slack asks for a wait longer than the time left
    pool = ScriptedPool(FakeResponse(429, b"rate_limited", {"Retry-After": "60"}))
    time = FakeTime()
    # When a payload is posted with 10 s left
    with pytest.raises(SlackDeliveryError, match="429") as caught:
        _client(pool, time).post(WEBHOOK, {"text": "hi"}, budget_seconds=10)
    # Then it does not sleep in vain; the error is retryable later (not permanent)
    assert time.sleeps == []
    assert caught.value.permanent is False
    assert caught.value.status == 429


@pytest.mark.parametrize(
    "failure",
    [
        FakeResponse(500, b"internal_error"),
        FakeResponse(503, b""),
        urllib3.exceptions.ReadTimeoutError(None, WEBHOOK, f"Read timed out. url={WEBHOOK}"),  # type: ignore[arg-type]
        urllib3.exceptions.NewConnectionError(None, f"cannot connect to {WEBHOOK}"),  # type: ignore[arg-type]
    ],
    ids=["500", "503", "read-timeout", "connection-refused"],
)
def test_post_retries_transient_failures_with_backoff(failure: Answer) -> None:
    # Given two transient failures, then success
    pool, time = ScriptedPool(failure, failure, FakeResponse(200)), FakeTime()
    # When a payload is posted
    _client(pool, time, backoff_base=1.0).post(WEBHOOK, {"text": "hi"})
    # Then it backed off 1 s, 2 s and delivered on the third attempt
    assert time.sleeps == [1.0, 2.0]
    assert len(pool.bodies) == 3


@pytest.mark.parametrize(
    "failure",
    [
        FakeResponse(500, b"internal_error"),
        urllib3.exceptions.ReadTimeoutError(None, WEBHOOK, f"Read timed out. url={WEBHOOK}"),  # type: ignore[arg-type]
    ],
    ids=["500", "timeout"],
)
def test_post_raises_after_the_last_attempt_without_leaking_the_url(failure: Answer) -> None:
    # Given Slack keeps failing
    pool, time = ScriptedPool(failure), FakeTime()
    # When a payload is posted
    with pytest.raises(SlackDeliveryError) as caught:
        _client(pool, time, max_attempts=4, budget_seconds=60).post(WEBHOOK, {"text": "hi"})
    # Then it tried max_attempts times and the error (and its chain) never shows the URL
    assert len(pool.bodies) == 4
    _assert_no_secret(str(caught.value))
    _assert_no_secret(repr(caught.value.__cause__) + repr(caught.value.__context__))


def test_post_stops_retrying_when_the_budget_is_spent() -> None:
    # Given Slack keeps answering 500 and only 5 s are left
    pool, time = ScriptedPool(FakeResponse(500)), FakeTime()
    # When a payload is posted
    with pytest.raises(SlackDeliveryError, match="time left"):
        _client(pool, time, max_attempts=10, backoff_base=1.0).post(
            WEBHOOK, {"text": "hi"}, budget_seconds=5
        )
    # Then the waits stayed within the budget (1 + 2, the next 4 would overrun)
    assert time.sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    ("status", "answer"),
    [(400, b"invalid_payload"), (403, b"action_prohibited"), (404, b"no_service"), (410, b"")],
)
def test_post_raises_permanent_errors_at_once(status: int, answer: bytes) -> None:
    # Given Slack refuses the request for good
    pool, time = ScriptedPool(FakeResponse(status, answer)), FakeTime()
    # When a payload is posted
    with pytest.raises(SlackDeliveryError, match=f"HTTP {status}") as caught:
        _client(pool, time).post(WEBHOOK, {"text": "hi"})
    # Then there is no retry, and the error says it is permanent and why
    assert len(pool.bodies) == 1
    assert caught.value.permanent is True
    assert caught.value.status == status
    assert answer.decode() in str(caught.value)
    _assert_no_secret(str(caught.value))


@pytest.mark.parametrize("url", ["", "hooks.slack.com/services/x", "file:///etc/passwd"])
def test_post_refuses_a_url_that_is_not_http(url: str) -> None:
    pool, time = ScriptedPool(FakeResponse(200)), FakeTime()
    with pytest.raises(SlackDeliveryError, match="not an http") as caught:
        _client(pool, time).post(url, {"text": "hi"})
    assert pool.bodies == []
    assert url not in str(caught.value) or not url


def test_pool_manager_is_created_on_first_use_only() -> None:
    # Given a client built without a pool
    client = SlackClient()
    # Then constructing it opened nothing
    assert client._pool is None


# ---- deliver_sns_event ---------------------------------------------------------------------


def _record(message_id: str, message: str, subject: str | None = "s") -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "Sns": {"MessageId": message_id, "Message": message, "Subject": subject},
    }


ALERT = json.dumps(to_document(CASES["alarm_success_rate"]))


class InMemoryOnce:
    """Stands in for OncePerMessage: remembers message ids whose action succeeded."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def run(self, message_id: str, action: Callable[[], None]) -> bool:
        if message_id in self.done:
            return False
        action()
        self.done.add(message_id)
        return True


def test_deliver_posts_every_record() -> None:
    # Given an event with an alert, a CloudWatch alarm and a plain message
    alarm = json.dumps({"AlarmName": "a", "NewStateValue": "ALARM"})
    records = [_record("m1", ALERT), _record("m2", alarm), _record("m3", "hello")]
    pool, time = ScriptedPool(FakeResponse(200)), FakeTime()
    # When it is delivered
    report = deliver_sns_event(records, WEBHOOK, client=_client(pool, time))
    # Then each record was posted, rendered the way its kind needs
    assert report == DeliveryReport(posted=("m1", "m2", "m3"), duplicates=())
    assert [body["text"][:11] for body in pool.bodies] == [
        "[CRITICAL] ",
        "CloudWatch ",
        "*s*\nhello",
    ]


def test_deliver_skips_messages_already_posted() -> None:
    # Given a message that was already delivered once
    once = InMemoryOnce()
    pool, time = ScriptedPool(FakeResponse(200)), FakeTime()
    deliver_sns_event([_record("m1", ALERT)], WEBHOOK, client=_client(pool, time), once=once)  # type: ignore[arg-type]
    # When SNS delivers it again
    report = deliver_sns_event(
        [_record("m1", ALERT)],
        WEBHOOK,
        client=_client(pool, time),
        once=once,  # type: ignore[arg-type]
    )
    # Then it is not posted twice
    assert report == DeliveryReport(posted=(), duplicates=("m1",))
    assert len(pool.bodies) == 1


def test_deliver_tries_every_record_then_raises_for_the_failed_ones() -> None:
    # Given a first record Slack refuses, a record of an unknown schema and a good one
    bad_schema = json.dumps({**to_document(CASES["test"]), "schema_version": 7})
    records = [_record("m1", ALERT), _record("m2", bad_schema), _record("m3", "fine")]
    pool = ScriptedPool(FakeResponse(400, b"invalid_payload"), FakeResponse(200))
    time = FakeTime()
    # When the event is delivered
    with pytest.raises(SlackDeliveryError) as caught:
        deliver_sns_event(records, WEBHOOK, client=_client(pool, time))
    # Then the good record was still posted, and the error names both failures, not the URL
    assert pool.bodies[-1] == {"text": "*s*\nfine"}
    message = str(caught.value)
    assert message.startswith("2 of 3 SNS records not delivered")
    assert "m1: SlackDeliveryError" in message
    assert "m2: ValueError" in message
    assert "schema_version" in message
    _assert_no_secret(message)


def test_deliver_gives_each_post_the_time_left() -> None:
    # Given Slack asks for a 30 s wait but the invocation has 10 s left
    pool = ScriptedPool(FakeResponse(429, b"", {"Retry-After": "30"}), FakeResponse(200))
    time = FakeTime()
    # When the event is delivered
    with pytest.raises(SlackDeliveryError, match="429"):
        deliver_sns_event(
            [_record("m1", "x")], WEBHOOK, client=_client(pool, time), remaining_seconds=lambda: 10
        )
    # Then it did not wait past the invocation's end
    assert time.sleeps == []


def test_alert_kinds_cover_every_rendering_case() -> None:
    # The golden cases exercise every kind the monitor can send but RECOVERED, whose
    # rendering shares the RESOLVED path.
    kinds = {entry.kind for alert in CASES.values() for entry in alert.entries}
    assert kinds == set(AlertKind) - {AlertKind.RECOVERED}
