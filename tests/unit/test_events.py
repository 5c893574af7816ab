"""events/*.json (for `sam local invoke -e` and the tests) have the shape their consumer reads,
and their consumer accepts them: every file is checked, so a new event cannot go unchecked."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from job_alerts.alerts import from_document, render_subject, slack_payload_for_sns
from job_alerts.brightdata import validate_job_id
from job_alerts.intake import handle_webhook
from job_alerts.publish import message_attributes
from job_alerts.service import TRACK_DETAIL_TYPE, TRACK_SOURCE, job_ids_from_track_event
from job_alerts.slack import deliver_sns_event
from tests.conftest import EVENTS, load_event

EVENT_FILES = sorted(path.name for path in EVENTS.glob("*.json"))


def check_scheduled(event: dict[str, Any]) -> None:
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event.get("detail") == {}


def check_track(event: dict[str, Any]) -> None:
    assert event["source"] == TRACK_SOURCE
    assert event["detail-type"] == TRACK_DETAIL_TYPE
    assert validate_job_id(event["detail"]["job_id"]) == event["detail"]["job_id"]
    assert job_ids_from_track_event(event) == [event["detail"]["job_id"]]


def check_webhook(event: dict[str, Any]) -> None:
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert isinstance(event["body"], str) and event["isBase64Encoded"] is False
    tracked: list[list[str]] = []
    token = event["queryStringParameters"]["token"]

    def track(ids: list[str]) -> dict[str, str]:
        tracked.append(ids)
        return dict.fromkeys(ids, "tracked")

    response = handle_webhook(
        event, expected_token=lambda: token, track=track, max_body_bytes=64 * 1024
    )
    assert response.status == 202, response.body
    assert tracked == [[json.loads(event["body"])["collection_id"]]]


def check_sns_alert(event: dict[str, Any]) -> None:
    assert event["Records"], "an SNS event has at least one record"
    for record in event["Records"]:
        assert record["EventSource"] == "aws:sns"
        sns = record["Sns"]
        document = json.loads(sns["Message"])
        from_document(document)  # raises on anything the notifier could not read
        assert sns["Subject"] == render_subject(document)
        # As SNS hands attributes to Lambda: Type/Value rather than DataType/StringValue.
        expected = {
            name: {"Type": value["DataType"], "Value": value["StringValue"]}
            for name, value in message_attributes(document).items()
        }
        assert sns["MessageAttributes"] == expected
        assert sns["MessageId"] and sns["TopicArn"].startswith("arn:aws:sns:")


CHECKS: Mapping[str, Callable[[dict[str, Any]], None]] = {
    "scheduled.json": check_scheduled,
    "track.json": check_track,
    "webhook.json": check_webhook,
    "sns_alert.json": check_sns_alert,
}


def test_events_every_file_has_a_shape_check() -> None:
    # Given the event files, Then each one is covered below (and no check names a lost file)
    assert set(EVENT_FILES) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_events_file_has_the_shape_its_consumer_reads(name: str) -> None:
    # Given an event file
    event = load_event(name)
    # When its consumer's view of it is checked, Then it passes
    CHECKS[name](event)


def test_events_sns_alert_is_an_alarm_that_renders_for_slack() -> None:
    # Given the SNS alert event
    sns = load_event("sns_alert.json")["Records"][0]["Sns"]
    # When the Slack notifier renders its message
    payload = slack_payload_for_sns(sns["Message"], sns["Subject"])
    # Then it is the Block Kit rendering of a critical ALARM
    assert json.loads(sns["Message"])["kind"] == "ALARM"
    assert sns["MessageAttributes"]["severity"] == {"Type": "String", "Value": "critical"}
    assert payload["blocks"][0]["type"] == "header"
    assert "[CRITICAL]" in payload["blocks"][0]["text"]["text"]
    assert payload["text"]


def test_events_sns_alert_is_delivered_by_the_notifier_logic() -> None:
    # Given the SNS alert event and a Slack client that records instead of posting
    event = load_event("sns_alert.json")
    posted: list[dict[str, Any]] = []

    class RecordingClient:
        def post(self, url: str, payload: dict[str, Any], *, budget_seconds: Any = None) -> None:
            posted.append(payload)

    # When the notifier delivers the event
    report = deliver_sns_event(
        event["Records"],
        "https://hooks.example.invalid/x",
        client=RecordingClient(),  # type: ignore[arg-type]
    )
    # Then every record is posted once
    assert report.posted == tuple(r["Sns"]["MessageId"] for r in event["Records"])
    assert len(posted) == len(event["Records"])
