"""Publishing an alert document to the SNS topic: one message per alert, JSON for machines and
plain text for email, with message attributes that subscription filter policies match on."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from job_alerts.alerts import from_document, render_email, render_subject
from job_alerts.config import Deployment
from job_alerts.observability import logger
from job_alerts.timeutil import Clock

if TYPE_CHECKING:
    from job_alerts.models import OutboxEntry
    from job_alerts.state import StateStore

__all__ = [
    "SNS_MESSAGE_MAX_BYTES",
    "AlertPublisher",
    "Delivery",
    "PublishError",
    "Publisher",
    "deliver_outbox",
    "message_attributes",
    "sns_publish_request",
]

# SNS's limit for the whole published request payload (message, subject and attributes).
SNS_MESSAGE_MAX_BYTES = 256 * 1024
# Room kept for the subject, attribute names and values within that limit.
_ENVELOPE_ALLOWANCE_BYTES = 4 * 1024


class PublishError(Exception):
    """SNS refused or could not take the alert; the caller keeps it in the outbox."""


def message_attributes(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Attributes for filter policies. ``rule`` and ``state`` describe the highest-severity
    entry; ``rules`` lists every entry's rule (String.Array: a filter matches any of them);
    ``stack``, ``region`` and ``account`` name the deployment that sent it, when known (SNS
    takes no empty value, so an unknown one is left out; and at most 10 attributes)."""
    alert = from_document(doc)
    top = alert.top_entry
    rules = list(dict.fromkeys(entry.rule for entry in alert.ordered_entries))
    attributes = {
        "severity": {"DataType": "String", "StringValue": alert.severity.value},
        "collector": {"DataType": "String", "StringValue": alert.collector_id or "monitor"},
        "rule": {"DataType": "String", "StringValue": top.rule},
        "rules": {"DataType": "String.Array", "StringValue": json.dumps(rules)},
        "state": {"DataType": "String", "StringValue": top.kind.value},
        "test": {"DataType": "String", "StringValue": "true" if alert.test else "false"},
    }
    deployment = alert.deployment or Deployment()
    for name, value in (
        ("stack", deployment.stack),
        ("region", deployment.region),
        ("account", deployment.account),
    ):
        if value:
            attributes[name] = {"DataType": "String", "StringValue": value}
    return attributes


def _structured_message(doc: Mapping[str, Any]) -> str:
    # "default" serves every protocol not named (SQS, Lambda, HTTPS, email-json), so the
    # document is carried once rather than once per protocol.
    document = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return json.dumps({"default": document, "email": render_email(doc)}, ensure_ascii=False)


def _fitted(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document, with job details dropped from the end until the message fits SNS's
    limit; ``affected_jobs`` still says how many there were."""
    budget = SNS_MESSAGE_MAX_BYTES - _ENVELOPE_ALLOWANCE_BYTES
    jobs = list(doc.get("jobs") or [])
    while True:
        candidate = {**doc, "jobs": jobs}
        if len(_structured_message(candidate).encode()) <= budget or not jobs:
            return candidate
        jobs = jobs[: len(jobs) // 2]


def sns_publish_request(doc: Mapping[str, Any], topic_arn: str) -> dict[str, Any]:
    """The keyword arguments of ``sns.publish`` for one alert document (pure)."""
    fitted = _fitted(doc)
    message = _structured_message(fitted)
    if len(message.encode()) > SNS_MESSAGE_MAX_BYTES - _ENVELOPE_ALLOWANCE_BYTES:
        raise PublishError(f"alert {doc.get('alert_id')!s:.80} is too large for SNS")
    return {
        "TopicArn": topic_arn,
        "Subject": render_subject(fitted),
        "Message": message,
        "MessageStructure": "json",
        "MessageAttributes": message_attributes(fitted),
    }


class AlertPublisher:
    """Publishes alert documents to one topic; the SNS client is created on first use."""

    def __init__(self, topic_arn: str, sns_client: Any | None = None) -> None:
        self._topic_arn = topic_arn
        self._sns = sns_client

    def publish(self, doc: Mapping[str, Any]) -> str:
        """Publish and return the SNS MessageId; PublishError when SNS does not take it."""
        request = sns_publish_request(doc, self._topic_arn)
        if self._sns is None:
            self._sns = boto3.client("sns")
        try:
            response = self._sns.publish(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PublishError(
                f"SNS publish to {self._topic_arn} failed: "
                f"{error.get('Code', 'unknown')}: {str(error.get('Message', ''))[:200]}"
            ) from exc
        except BotoCoreError as exc:
            raise PublishError(
                f"SNS publish to {self._topic_arn} failed: {type(exc).__name__}"
            ) from exc
        return str(response["MessageId"])


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0


class Publisher(Protocol):
    def publish(self, doc: Mapping[str, Any]) -> str: ...


def deliver_outbox(
    store: StateStore,
    publisher: Publisher,
    *,
    run_id: str,
    clock: Clock,
    lease_until: Callable[[datetime], datetime],
    own_only: bool = False,
) -> Delivery:
    """Publish stage: what is owed to the topic, this run's alerts and earlier runs' whose lease
    ran out. Each is leased (so two runs never publish it at once), published, then marked sent;
    a failed publish releases the lease and the alert waits in the outbox for the next run."""
    delivery = Delivery()
    now = clock()
    for entry in store.pending_outbox(now, run_id):
        if own_only and entry.owner != run_id:
            continue
        try:
            _deliver_one(store, publisher, entry, run_id, clock, lease_until(now), now, delivery)
        except Exception:
            # The state table refused a lease, a read or the mark of sent: the entry stays in the
            # outbox (a publish not marked sent goes out again, with the same alert id, once its
            # lease ends), and the run goes on with the others.
            delivery.failed += 1
            logger.exception(
                "delivering an outbox entry failed", extra={"alert_id": entry.alert_id}
            )
    return delivery


def _deliver_one(
    store: StateStore,
    publisher: Publisher,
    entry: OutboxEntry,
    run_id: str,
    clock: Clock,
    until: datetime,
    now: datetime,
    delivery: Delivery,
) -> None:
    if not store.take_lease(entry, run_id, until, now):
        return
    record = store.get_alert(entry.alert_id)
    if record is None:
        return
    try:
        message_id = publisher.publish(record.document)
    except Exception as exc:
        delivery.failed += 1
        logger.warning(
            "publish failed; the alert stays in the outbox for the next run",
            extra={"alert_id": record.alert_id, "error": type(exc).__name__},
        )
        store.release_lease(entry, run_id)
        return
    store.mark_sent(entry, message_id, clock())
    delivery.sent += 1
