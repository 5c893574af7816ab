"""The email subscription's filter policy, exactly as template.yaml defines it for each
EmailMinSeverity, routes alerts by severity over moto server's real SNS → SQS delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from job_alerts.alerts import Alert, AlertEntry, AlertKind, to_document
from job_alerts.publish import AlertPublisher
from job_alerts.rules import Severity
from local.stack import provision

pytestmark = pytest.mark.integration


def _alert(severity: Severity, *, test: bool = False, kind: AlertKind = AlertKind.JOB) -> dict:
    kind = AlertKind.TEST if test else kind
    entry = AlertEntry(kind=kind, rule="job_failed", severity=severity, message=f"{severity} one")
    alert = Alert(
        alert_id=f"a-{severity}-{test}-{kind}",
        collector_id="c_abc",
        collector_name="abc",
        entries=(entry,),
        jobs=(),
        affected_jobs=1,
        created_at=datetime(2026, 11, 29, tzinfo=UTC),
        test=test,
    )
    return to_document(alert)


@pytest.mark.parametrize(
    ("min_severity", "expected"),
    [
        ("critical", {"critical", "test", "cloudwatch"}),
        ("warning", {"critical", "warning", "resolved", "test", "cloudwatch"}),
        ("info", {"critical", "warning", "info", "resolved", "test", "cloudwatch"}),
    ],
)
def test_email_filter_routes_by_min_severity(moto_server, min_severity, expected) -> None:
    # Given the stack provisioned with EmailMinSeverity and an email address
    stack = provision(
        moto_server.url,
        parameters={"EmailMinSeverity": min_severity, "AlertEmail": "ops@example.com"},
    )
    sns = stack.client("sns")
    publisher = AlertPublisher(stack.topic_arn, sns)
    # When alerts of every severity, a RESOLVED, a test alert and a CloudWatch alarm notification
    # are published
    for severity in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
        publisher.publish(_alert(severity))
    publisher.publish(_alert(Severity.INFO, test=True))
    publisher.publish(_alert(Severity.WARNING, kind=AlertKind.RESOLVED))
    sns.publish(
        TopicArn=stack.topic_arn,
        Subject="ALARM: monitor errors",
        Message=json.dumps({"AlarmName": "job-alerts-monitor-errors", "NewStateValue": "ALARM"}),
    )
    # Then the email subscription receives exactly the wanted ones (a RESOLVED is as severe as
    # the alarm it ends, so it reaches whoever got that alarm)
    received = set()
    for envelope in stack.drain("email"):
        message = envelope["Message"]
        if "AlarmName" in message:
            received.add("cloudwatch")
            continue
        doc = json.loads(message)
        if doc["test"]:
            received.add("test")
        elif doc["kind"] == "RESOLVED":
            received.add("resolved")
        else:
            received.add(doc["severity"])
    assert received == expected
    # And the unfiltered subscription receives everything
    assert len(stack.drain("all")) == 6
