"""The conditional writes that make each decision once-only: version-guarded Puts of an alarm or
of monitor health, the mark of a job alerted for a rule, the one transaction that stores an alert
with every claim it tells of (and its outbox entry), and which claims a refused one names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from job_alerts.models import (
    AlarmClaim,
    AlertRecord,
    AlertStatus,
    Claim,
    Health,
    JobRuleClaim,
    OutboxEntry,
    RuleAlarm,
    StateError,
)
from job_alerts.state.items import (
    alarm_item,
    alert_item,
    alert_key,
    health_item,
    job_rule_claim_item,
    key_attributes,
    outbox_item,
    outbox_key,
    rerun_count_key,
    rerun_count_ttl,
    to_attributes,
)
from job_alerts.timeutil import iso

TRANSACTION_MAX_ITEMS = 100

__all__ = [
    "TRANSACTION_MAX_ITEMS",
    "alarm_put",
    "mark_sent_items",
    "record_alert_items",
    "refused_claims",
    "rerun_claim_items",
]


def alarm_put(table: str, alarm: RuleAlarm, expected_version: int) -> dict[str, Any]:
    """A Put of the alarm guarded by the version it was read at (optimistic locking)."""
    put: dict[str, Any] = {"TableName": table, "Item": to_attributes(alarm_item(alarm))}
    if expected_version == 0 and not alarm.exists:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
    return {"Put": put}


def _health_put(table: str, health: Health, expected_version: int) -> dict[str, Any]:
    """A Put of monitor health guarded by the version it was read at (optimistic locking)."""
    put: dict[str, Any] = {"TableName": table, "Item": to_attributes(health_item(health))}
    if expected_version == 0:
        put["ConditionExpression"] = "attribute_not_exists(version) OR version = :v"
    else:
        put["ConditionExpression"] = "version = :v"
    put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
    return {"Put": put}


def _claim_put(table: str, claim: Claim) -> dict[str, Any]:
    """The TransactWriteItems entry that records one claim."""
    if isinstance(claim, JobRuleClaim):
        put = {
            "TableName": table,
            "Item": to_attributes(job_rule_claim_item(claim)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        return {"Put": put}
    if isinstance(claim, AlarmClaim):
        return alarm_put(table, claim.alarm, claim.expected_version)
    return _health_put(table, claim.health, claim.expected_version)


def record_alert_items(
    table: str,
    record: AlertRecord,
    claims: Sequence[Claim],
    *,
    ttl_days: int,
    lease_until: datetime | None,
    owner: str,
) -> list[dict[str, Any]]:
    """The TransactWriteItems that claim every decision and store the alert (plus its outbox
    entry when it is to be sent). Raises StateError when they are more than one transaction
    may hold."""
    item = alert_item(record, ttl_days)
    ops = [_claim_put(table, claim) for claim in claims]
    ops.append(
        {
            "Put": {
                "TableName": table,
                "Item": to_attributes(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
    )
    if record.status is AlertStatus.PENDING:
        outbox = outbox_item(record, owner=owner, lease_until=lease_until, ttl=item["ttl"])
        ops.append({"Put": {"TableName": table, "Item": to_attributes(outbox)}})
    if len(ops) > TRANSACTION_MAX_ITEMS:
        raise StateError(f"an alert may carry at most {TRANSACTION_MAX_ITEMS - 2} decisions")
    return ops


def rerun_claim_items(
    table: str, claim: JobRuleClaim, collector_id: str, cap: int
) -> list[dict[str, Any]]:
    """The TransactWriteItems that claim a job's rerun, once, and count it against its
    collector's reruns of the claim's UTC day, provided fewer than `cap` were started. The claim
    comes first: a cancelled transaction names which of the two refused."""
    day = claim.at.astimezone(UTC).date()
    count = {
        "Update": {
            "TableName": table,
            "Key": key_attributes(rerun_count_key(collector_id, day)),
            "UpdateExpression": "ADD n :one SET #ttl = if_not_exists(#ttl, :ttl)",
            "ConditionExpression": "attribute_not_exists(n) OR n < :cap",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":cap": {"N": str(cap)},
                ":ttl": {"N": str(rerun_count_ttl(day))},
            },
        }
    }
    return [_claim_put(table, claim), count]


def refused_claims(exc: ClientError, claims: Sequence[Claim]) -> tuple[Claim, ...]:
    """The claims a cancelled record_alert_items transaction says were already made: only those
    whose own condition failed. A cancellation for any other reason (another transaction on the
    same items, throttling, a validation error) claimed nothing, so it names no claim; when the
    alert's own item already exists (its condition failed), the same alert was recorded, with
    every claim it carries."""
    reasons = exc.response.get("CancellationReasons") or []
    codes = [str((reason or {}).get("Code") or "") for reason in reasons]
    if len(codes) > len(claims) and codes[len(claims)] == "ConditionalCheckFailed":
        return tuple(claims)
    return tuple(
        claims[i] for i, code in enumerate(codes[: len(claims)]) if code == "ConditionalCheckFailed"
    )


def mark_sent_items(
    table: str, entry: OutboxEntry, message_id: str, now: datetime
) -> list[dict[str, Any]]:
    """The TransactWriteItems that mark the alert sent and take its entry out of the outbox."""
    return [
        {
            "Update": {
                "TableName": table,
                "Key": key_attributes(alert_key(entry.alert_id)),
                "UpdateExpression": "SET #s = :sent, sent_at = :at, message_id = :mid",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":sent": {"S": AlertStatus.SENT.value},
                    ":at": {"S": iso(now)},
                    ":mid": {"S": message_id},
                },
            }
        },
        {"Delete": {"TableName": table, "Key": key_attributes(outbox_key(entry.entry_id))}},
    ]
