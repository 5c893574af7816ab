"""Slack delivery without network: one post per SNS record (raw Lambda records or Powertools
data classes), failures gathered and raised after every record was tried, and the checks the
client makes before any request. Its HTTP behaviour is tested over the local sink in
tests/integration/test_slack_client.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from job_alerts.alerts import AlertKind, to_document
from job_alerts.slack import DeliveryReport, SlackClient, SlackDeliveryError, deliver_sns_event
from tests.unit.test_alert_render import CASES

WEBHOOK = "https://hooks.slack.com/services/T000SECRET/B000SECRET/verysecrettoken000"
SECRET_PARTS = ("T000SECRET", "verysecrettoken000", "hooks.slack.com")


class FakeSlack:
    """Stands in for SlackClient: records what would be posted; refuses texts it is told to."""

    def __init__(self, refuse: Mapping[str, SlackDeliveryError] | None = None) -> None:
        self.refuse = dict(refuse or {})
        self.payloads: list[dict[str, Any]] = []
        self.budgets: list[float | None] = []

    def post(
        self, webhook_url: str, payload: Mapping[str, Any], *, budget_seconds: float | None = None
    ) -> None:
        assert webhook_url == WEBHOOK
        refusal = self.refuse.get(str(payload.get("text")))
        if refusal is not None:
            raise refusal
        self.payloads.append(dict(payload))
        self.budgets.append(budget_seconds)


def _assert_no_secret(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text


@pytest.mark.parametrize("url", ["", "hooks.slack.com/services/x", "file:///etc/passwd"])
def test_post_refuses_a_url_that_is_not_http(url: str) -> None:
    # Given a client whose pool would fail the test if it were used
    client = SlackClient(pool=object())  # type: ignore[arg-type]
    # When a message is posted to something that is not an http(s) URL
    with pytest.raises(SlackDeliveryError, match="not an http") as caught:
        client.post(url, {"text": "hi"})
    # Then it is refused for good, before any request, without quoting the URL
    assert caught.value.permanent is True
    assert url not in str(caught.value) or not url


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
    slack = FakeSlack()
    # When it is delivered
    report = deliver_sns_event(records, WEBHOOK, client=slack)  # type: ignore[arg-type]
    # Then each record was posted, rendered the way its kind needs
    assert report == DeliveryReport(posted=("m1", "m2", "m3"), duplicates=())
    assert [body["text"][:11] for body in slack.payloads] == [
        "[CRITICAL] ",
        "CloudWatch ",
        "*s*\nhello",
    ]


def test_deliver_reads_powertools_sns_records_like_raw_ones() -> None:
    # Given the same event as raw records and as Powertools' SNSEvent data class
    event = {"Records": [_record("m1", "hello"), _record("m2", "there", subject=None)]}
    raw, typed = FakeSlack(), FakeSlack()
    # When both are delivered
    first = deliver_sns_event(event["Records"], WEBHOOK, client=raw)  # type: ignore[arg-type]
    second = deliver_sns_event(SNSEvent(event).records, WEBHOOK, client=typed)  # type: ignore[arg-type]
    # Then they post the same, record by record
    assert first == second == DeliveryReport(posted=("m1", "m2"), duplicates=())
    assert raw.payloads == typed.payloads
    assert raw.payloads[1] == {"text": "there"}


def test_deliver_skips_messages_already_posted() -> None:
    # Given a message that was already delivered once
    once, slack = InMemoryOnce(), FakeSlack()
    deliver_sns_event([_record("m1", ALERT)], WEBHOOK, client=slack, once=once)  # type: ignore[arg-type]
    # When SNS delivers it again
    report = deliver_sns_event(
        [_record("m1", ALERT)],
        WEBHOOK,
        client=slack,  # type: ignore[arg-type]
        once=once,  # type: ignore[arg-type]
    )
    # Then it is not posted twice
    assert report == DeliveryReport(posted=(), duplicates=("m1",))
    assert len(slack.payloads) == 1


def test_deliver_tries_every_record_then_raises_for_the_failed_ones() -> None:
    # Given a first record Slack refuses, a record of an unknown schema, a record without an
    # SNS message, and a good one
    bad_schema = json.dumps({**to_document(CASES["test"]), "schema_version": 7})
    records = [
        _record("m1", "refused"),
        _record("m2", bad_schema),
        {"EventSource": "aws:sns"},
        _record("m4", "fine"),
    ]
    refusal = SlackDeliveryError("Slack rejected the message: HTTP 400 invalid_payload")
    slack = FakeSlack(refuse={"*s*\nrefused": refusal})
    # When the event is delivered
    with pytest.raises(SlackDeliveryError) as caught:
        deliver_sns_event(records, WEBHOOK, client=slack)  # type: ignore[arg-type]
    # Then the good record was still posted, and the error names every failure, not the URL
    assert slack.payloads == [{"text": "*s*\nfine"}]
    message = str(caught.value)
    assert message.startswith("3 of 4 SNS records not delivered")
    assert "m1: SlackDeliveryError Slack rejected the message: HTTP 400" in message
    assert "m2: ValueError" in message
    assert "schema_version" in message
    assert "record-2: KeyError not an SNS record" in message
    _assert_no_secret(message)


def test_deliver_gives_each_post_the_time_left() -> None:
    # Given an invocation with 10 s, then 7 s left when each record is posted
    left = iter([10.0, 7.0])
    slack = FakeSlack()
    # When two records are delivered
    deliver_sns_event(
        [_record("m1", "x"), _record("m2", "y")],
        WEBHOOK,
        client=slack,  # type: ignore[arg-type]
        remaining_seconds=lambda: next(left),
    )
    # Then each post was bounded by the time left at that moment
    assert slack.budgets == [10.0, 7.0]


def test_alert_kinds_cover_every_rendering_case() -> None:
    # The golden cases exercise every kind the monitor can send but RECOVERED, whose
    # rendering shares the RESOLVED path.
    kinds = {entry.kind for alert in CASES.values() for entry in alert.entries}
    assert kinds == set(AlertKind) - {AlertKind.RECOVERED}
