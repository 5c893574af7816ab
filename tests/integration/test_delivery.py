"""Alert delivery over real HTTP: SNS publish and subscription filter policies on moto server,
the Slack notifier's idempotency on moto DynamoDB, and Slack retries against the local sink."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from job_alerts.alerts import Alert, to_document
from job_alerts.publish import AlertPublisher, PublishError
from job_alerts.slack import OncePerMessage, SlackClient, SlackDeliveryError, deliver_sns_event
from local.slack_sink import SlackSink
from local.stack import FAKE_CREDENTIALS, REGION, MotoServer
from tests.support import load_function
from tests.unit.test_alert_render import CASES

pytestmark = pytest.mark.integration

CLOUDWATCH_ALARM = {
    "AlarmName": "job-alerts-monitor-errors",
    "NewStateValue": "ALARM",
    "OldStateValue": "OK",
    "NewStateReason": "Threshold Crossed",
    "StateChangeTime": "2025-04-28T14:00:00.000+0000",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:job-alerts-monitor-errors",
}


def email_filter_policy(min_severity: str) -> dict[str, Any]:
    """The policy recommended for the email subscription: alerts at or above the minimum
    severity, test alerts, and messages without a severity (CloudWatch alarm notifications)."""
    levels = {"critical": ["critical"], "warning": ["critical", "warning"]}
    wanted = levels.get(min_severity, ["critical", "warning", "info"])
    return {
        "$or": [
            {"severity": wanted},
            {"severity": [{"exists": False}]},
            {"test": ["true"]},
        ]
    }


@pytest.fixture(scope="module")
def _moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(_moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """boto3 clients on moto server, with dummy credentials and the endpoint in the env too
    (the notifier's own clients find moto through AWS_ENDPOINT_URL)."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto.url)
    return {
        name: boto3.client(name, region_name=REGION, endpoint_url=_moto.url)
        for name in ("sns", "sqs", "dynamodb", "secretsmanager")
    }


def _queue(aws: dict[str, Any], topic_arn: str, policy: dict[str, Any] | None = None) -> str:
    """An SQS queue subscribed to the topic (not raw), optionally behind a filter policy."""
    url = aws["sqs"].create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {"FilterPolicy": json.dumps(policy)} if policy is not None else {}
    aws["sns"].subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


def _received(aws: dict[str, Any], queue_url: str) -> list[dict[str, Any]]:
    messages = (
        aws["sqs"]
        .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        .get("Messages", [])
    )
    return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def topic(aws: dict[str, Any]) -> str:
    return str(aws["sns"].create_topic(Name=f"alerts-{uuid.uuid4().hex[:8]}")["TopicArn"])


def _doc(name: str, **changes: Any) -> dict[str, Any]:
    return to_document(Alert(**{**CASES[name].__dict__, **changes}))


def test_publish_delivers_the_json_document_with_attributes(
    aws: dict[str, Any], topic: str
) -> None:
    # Given a queue subscribed to the topic (SNS envelope, not raw)
    queue = _queue(aws, topic)
    doc = _doc("grouped")
    # When the alert is published
    message_id = AlertPublisher(topic, aws["sns"]).publish(doc)
    # Then the queue holds the document, the subject and the filterable attributes
    [envelope] = _received(aws, queue)
    assert envelope["MessageId"] == message_id
    assert json.loads(envelope["Message"]) == doc
    assert envelope["Subject"].startswith("[CRITICAL] amazon-products: 3 alerts")
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {
        "severity": "critical",
        "collector": "c_m9im5n7v82p2y35la",
        "rule": "success_rate_below_min",
        "rules": '["success_rate_below_min", "job_failed", "fails_above_max"]',
        "state": "ALARM",
        "test": "false",
    }


@pytest.mark.parametrize(
    ("min_severity", "case", "delivered"),
    [
        ("critical", "alarm_success_rate", True),
        ("critical", "reminder", True),  # as severe as its alarm
        ("critical", "resolved", False),  # info
        ("critical", "test", True),  # info, but a test
        ("critical", "degraded_token_rejected", True),
        ("warning", "reminder", True),
        ("warning", "resolved", False),
        ("info", "resolved", True),
    ],
)
def test_email_filter_policy_routes_by_minimum_severity(
    aws: dict[str, Any],
    topic: str,
    min_severity: str,
    case: str,
    delivered: bool,
) -> None:
    # Given an "email" subscription (simulated by a queue) with the recommended filter policy
    email = _queue(aws, topic, email_filter_policy(min_severity))
    # When an alert is published
    AlertPublisher(topic, aws["sns"]).publish(_doc(case))
    # Then it reaches email only when severe enough (or a test)
    assert len(_received(aws, email)) == (1 if delivered else 0)


@pytest.mark.parametrize("min_severity", ["critical", "warning", "info"])
def test_email_filter_policy_lets_cloudwatch_alarms_through(
    aws: dict[str, Any], topic: str, min_severity: str
) -> None:
    # Given the email subscription's filter policy
    email = _queue(aws, topic, email_filter_policy(min_severity))
    # When CloudWatch publishes an alarm notification (no message attributes at all)
    aws["sns"].publish(
        TopicArn=topic, Subject="ALARM: monitor errors", Message=json.dumps(CLOUDWATCH_ALARM)
    )
    # Then it still reaches email
    [envelope] = _received(aws, email)
    assert json.loads(envelope["Message"])["AlarmName"] == "job-alerts-monitor-errors"


def test_rules_attribute_matches_any_entry_of_a_grouped_alert(
    aws: dict[str, Any], topic: str
) -> None:
    # Given a subscriber interested only in failed-inputs alarms
    queue = _queue(aws, topic, {"rules": ["fails_above_max"]})
    # When a grouped alert whose top entry is another rule, then an unrelated alert, are sent
    publisher = AlertPublisher(topic, aws["sns"])
    publisher.publish(_doc("grouped"))
    publisher.publish(_doc("alarm_success_rate"))
    # Then only the grouped alert, which contains that rule, reaches it
    [envelope] = _received(aws, queue)
    assert json.loads(envelope["Message"])["entries"][2]["rule"] == "fails_above_max"


def test_publish_errors_are_raised_as_publish_error(aws: dict[str, Any]) -> None:
    # Given a topic that does not exist
    missing = f"arn:aws:sns:{REGION}:123456789012:does-not-exist"
    # When / Then publishing fails loudly
    with pytest.raises(PublishError, match="does-not-exist"):
        AlertPublisher(missing, aws["sns"]).publish(_doc("test"))


# ---- Slack notifier ------------------------------------------------------------------------


@pytest.fixture
def table(aws: dict[str, Any]) -> str:
    """The state table's key shape (pk/sk, TTL on ttl), as the idempotency layer shares it."""
    name = f"state-{uuid.uuid4().hex[:8]}"
    aws["dynamodb"].create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    aws["dynamodb"].update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    return name


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    with SlackSink() as running:
        yield running


def _sns_event(*messages: tuple[str, str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {"MessageId": message_id, "Message": message, "Subject": "s"},
            }
            for message_id, message in messages
        ]
    }


def _fast_client(**options: Any) -> SlackClient:
    settings: dict[str, Any] = {"backoff_base": 0.05, "max_attempts": 3, "budget_seconds": 10}
    return SlackClient(**{**settings, **options})


def test_redelivered_sns_message_is_posted_once(
    aws: dict[str, Any], table: str, sink: SlackSink, lambda_context: Any
) -> None:
    # Given the idempotency store on the state table and one alert message
    once = OncePerMessage(table, dynamodb_client=aws["dynamodb"])
    once.register_lambda_context(lambda_context)
    records = _sns_event(("msg-1", json.dumps(_doc("alarm_success_rate"))))["Records"]
    # When SNS delivers the same message twice
    first = deliver_sns_event(records, sink.url, client=_fast_client(), once=once)
    second = deliver_sns_event(records, sink.url, client=_fast_client(), once=once)
    # Then Slack got it once, and the record sits under the notifier's key
    assert (first.posted, second.duplicates) == (("msg-1",), ("msg-1",))
    assert len(sink.posts) == 1
    items = aws["dynamodb"].query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY#slack_notifier"}},
    )["Items"]
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"
    assert int(items[0]["ttl"]["N"]) > time.time() + 23 * 3600


def test_failed_post_is_not_recorded_so_a_retry_posts_it(
    aws: dict[str, Any], table: str, sink: SlackSink, lambda_context: Any
) -> None:
    # Given Slack failing for the first delivery attempt
    once = OncePerMessage(table, dynamodb_client=aws["dynamodb"])
    once.register_lambda_context(lambda_context)
    records = _sns_event(("msg-2", "hello"))["Records"]
    sink.fail(times=3)
    with pytest.raises(SlackDeliveryError):
        deliver_sns_event(records, sink.url, client=_fast_client(), once=once)
    # When Lambda retries the event after Slack recovered
    report = deliver_sns_event(records, sink.url, client=_fast_client(), once=once)
    # Then the message is posted then
    assert report.posted == ("msg-2",)
    assert sink.posts == [{"text": "*s*\nhello"}]


def test_slack_429_is_retried_after_retry_after(sink: SlackSink) -> None:
    # Given Slack rate-limits the first request with Retry-After: 1
    sink.rate_limit(times=1, retry_after=1)
    started = time.monotonic()
    # When a message is delivered
    deliver_sns_event(_sns_event(("m", "hello"))["Records"], sink.url, client=_fast_client())
    # Then it was posted once, after waiting at least the second Slack asked for
    assert len(sink.posts) == 1
    assert [r.status for r in sink.requests] == [429, 200]
    assert sink.requests[1].at - sink.requests[0].at >= 0.95
    assert time.monotonic() - started >= 0.95


def test_slack_500_forever_raises_without_the_webhook_url(sink: SlackSink) -> None:
    # Given Slack answers 500 to everything
    sink.fail(times=None)
    # When a message is delivered
    with pytest.raises(SlackDeliveryError) as caught:
        deliver_sns_event(_sns_event(("m", "hello"))["Records"], sink.url, client=_fast_client())
    # Then every attempt was made, and the error never shows the secret URL
    assert len(sink.requests) == 3
    assert "HTTP 500" in str(caught.value)
    assert sink.path not in str(caught.value)
    assert sink.url not in repr(caught.value)


def test_slack_that_stalls_times_out_without_the_webhook_url(sink: SlackSink) -> None:
    # Given Slack holds every request longer than the client's read timeout
    sink.stall(seconds=1.0, times=5)
    # When a message is delivered
    with pytest.raises(SlackDeliveryError, match="ReadTimeoutError") as caught:
        deliver_sns_event(
            _sns_event(("m", "hello"))["Records"],
            sink.url,
            client=_fast_client(read_timeout=0.2, max_attempts=2),
        )
    # Then the error names the timeout, never the URL
    assert sink.path not in str(caught.value)


def test_permanent_slack_error_is_not_retried(sink: SlackSink) -> None:
    # Given a webhook URL Slack does not know (revoked)
    url = sink.url.rsplit("/", 1)[0] + "/revoked"
    # When a message is delivered
    with pytest.raises(SlackDeliveryError, match="404 no_service"):
        deliver_sns_event(_sns_event(("m", "hello"))["Records"], url, client=_fast_client())
    # Then it was tried exactly once
    assert len(sink.requests) == 1


def test_handler_posts_each_message_once_with_the_secret_from_secrets_manager(
    aws: dict[str, Any],
    table: str,
    sink: SlackSink,
    lambda_env: Callable[..., None],
    lambda_context: Any,
) -> None:
    # Given the notifier's environment as deployed (the handler reads it itself): the table, and
    # the webhook URL as a JSON secret
    secret = f"slack-{uuid.uuid4().hex[:8]}"
    aws["secretsmanager"].create_secret(
        Name=secret, SecretString=json.dumps({"webhook_url": sink.url})
    )
    lambda_env(TABLE_NAME=table, SLACK_WEBHOOK_SECRET=secret)
    app = load_function("slack_notifier")
    event = _sns_event(
        (f"h-{uuid.uuid4()}", json.dumps(_doc("hostile"))),
        (f"h-{uuid.uuid4()}", json.dumps(CLOUDWATCH_ALARM)),
    )
    # When the same event arrives twice (SNS redelivery)
    first = app.handler(event, lambda_context)
    second = app.handler(event, lambda_context)
    # Then both messages were posted once, escaped
    assert first == {"posted": 2, "duplicates": 0}
    assert second == {"posted": 0, "duplicates": 2}
    assert len(sink.posts) == 2
    assert "<!channel>" not in json.dumps(sink.posts)
