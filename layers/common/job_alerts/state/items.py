"""The state table's keys and item codecs: one section per item kind, each with its key, its item
built from a domain type of `models` and that type read back. No other module builds or parses a
key. A new item kind adds its section here and its questions as `StateStore` methods (`store`)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from job_alerts.history import History
from job_alerts.models import (
    AlarmState,
    AlertRecord,
    AlertStatus,
    CollectorMeta,
    Health,
    HealthState,
    JobRecord,
    JobRuleClaim,
    OutboxEntry,
    RuleAlarm,
    Silence,
)
from job_alerts.timeutil import iso, parse_iso, ttl_at

# The sparse index gsi1 holds three lists, each under one partition key of its own.
LIVE = "LIVE"  # jobs still to be read, oldest first
OPEN_ALARMS = "OPEN_ALARMS"  # collector rules with an open alarm, for reminders
HISTORY = "HISTORY"  # alerts, newest first
# The partitions of the collectors' listing state and of the alerts owed to the topic.
COLLECTORS = "COLLECTORS"
OUTBOX = "OUTBOX"
# DynamoDB refuses items over 400 KB; a job item stays well under it (see bounded_job_item).
_JOB_ITEM_MAX_BYTES = 100 * 1024

Key = tuple[str, str]

__all__ = [
    "ALARM_SORT_PREFIX",
    "COLLECTORS",
    "HEALTH_KEY",
    "HISTORY",
    "LIVE",
    "OPEN_ALARMS",
    "OUTBOX",
    "Key",
    "alarm_item",
    "alarm_key",
    "alarm_partition",
    "alert_item",
    "alert_key",
    "alert_record",
    "baseline_history",
    "baseline_item",
    "baseline_key",
    "bounded_job_item",
    "claim_ttl",
    "collector_meta",
    "collector_meta_item",
    "from_attributes",
    "health_item",
    "health_record",
    "job_item",
    "job_key",
    "job_record",
    "job_rule_claim_item",
    "job_rule_key",
    "key_attributes",
    "outbox_entry",
    "outbox_item",
    "outbox_key",
    "rerun_count_key",
    "rerun_count_ttl",
    "rule_alarm",
    "silence_item",
    "silence_key",
    "silence_record",
    "to_attributes",
]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attributes(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed attribute-value form."""
    return {k: _serializer.serialize(v) for k, v in item.items()}


def from_attributes(item: dict[str, Any]) -> dict[str, Any]:
    """An item read from DynamoDB as plain Python values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def key_attributes(key: Key) -> dict[str, Any]:
    pk, sk = key
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# ---- jobs, and the rules each job was alerted for ------------------------------------------
def job_key(job_id: str) -> Key:
    return (f"JOB#{job_id}", "JOB")


def job_item(record: JobRecord) -> dict[str, Any]:
    pk, sk = job_key(record.job_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "job_id": record.job_id,
        "first_seen": iso(record.first_seen),
        "source": record.source,
        "settled": record.settled,
        "expired": record.expired,
    }
    optional = {
        "collector_id": record.collector_id,
        "status": record.status,
        "fingerprint": record.fingerprint,
        "log": json.dumps(record.log, sort_keys=True) if record.log is not None else None,
        "last_read": iso(record.last_read) if record.last_read else None,
        "ttl": record.ttl,
        "alerted": json.dumps(record.alerted) if record.alerted else None,
        "unreadable_reads": record.unreadable_reads or None,
        "unreadable_reason": record.unreadable_reason,
        "rerun_of": record.rerun_of,
        "not_found_reads": record.not_found_reads or None,
        "first_not_found": iso(record.first_not_found) if record.first_not_found else None,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    if not record.settled and not record.expired:
        item["gsi1pk"] = LIVE
        item["gsi1sk"] = record.live_sort_key
    return item


def bounded_job_item(record: JobRecord) -> dict[str, Any]:
    """A job item that can always be stored: were the last read's log ever too big (it is
    bounded when parsed; this guards the limit itself), the log is dropped, the rest kept."""
    item = job_item(record)
    if len(json.dumps(item, default=str)) <= _JOB_ITEM_MAX_BYTES:
        return item
    return {k: v for k, v in item.items() if k != "log"}


def job_record(item: dict[str, Any]) -> JobRecord:
    raw_log = item.get("log")
    return JobRecord(
        job_id=item["job_id"],
        collector_id=item.get("collector_id"),
        first_seen=parse_iso(item["first_seen"]) or datetime.fromtimestamp(0, UTC),
        source=item.get("source", "discovered"),
        status=item.get("status"),
        settled=bool(item.get("settled", False)),
        fingerprint=item.get("fingerprint"),
        log=json.loads(raw_log) if raw_log else None,
        last_read=parse_iso(item.get("last_read")),
        expired=bool(item.get("expired", False)),
        ttl=int(item["ttl"]) if item.get("ttl") is not None else None,
        alerted=json.loads(item.get("alerted", "[]")),
        unreadable_reads=int(item.get("unreadable_reads", 0)),
        unreadable_reason=item.get("unreadable_reason"),
        rerun_of=item.get("rerun_of"),
        not_found_reads=int(item.get("not_found_reads", 0)),
        first_not_found=parse_iso(item.get("first_not_found")),
    )


def job_rule_key(job_id: str, rule: str) -> Key:
    return (f"JOB#{job_id}", f"ALERTED#{rule}")


def claim_ttl(claim: JobRuleClaim) -> int:
    return ttl_at(claim.at, claim.ttl_days)


def job_rule_claim_item(claim: JobRuleClaim) -> dict[str, Any]:
    """The mark that this job was alerted for this rule (written once, under a condition)."""
    pk, sk = job_rule_key(claim.job_id, claim.rule)
    return {"pk": pk, "sk": sk, "at": iso(claim.at), "ttl": claim_ttl(claim)}


# ---- collectors: what the last listing saw of each -----------------------------------------
def collector_meta_item(meta: CollectorMeta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": COLLECTORS,
        "sk": meta.collector_id,
        "collector_id": meta.collector_id,
        "name": meta.name,
        "last_run": meta.last_run,
    }
    if meta.listed_at:
        item["listed_at"] = iso(meta.listed_at)
    if meta.full_at:
        item["full_at"] = iso(meta.full_at)
    if meta.created:
        item["created"] = History(created=meta.created).to_dict()["created"]
    if meta.failed_listings:
        item["failed_listings"] = meta.failed_listings
    if meta.missing_since:
        item["missing_since"] = iso(meta.missing_since)
    return item


def collector_meta(item: dict[str, Any]) -> CollectorMeta:
    return CollectorMeta(
        collector_id=item["sk"],
        name=str(item.get("name") or item["sk"]),
        last_run=str(item.get("last_run") or ""),
        listed_at=parse_iso(item.get("listed_at")),
        full_at=parse_iso(item.get("full_at")),
        created=History.from_dict({"created": item.get("created")}).created,
        failed_listings=int(item.get("failed_listings", 0)),
        missing_since=parse_iso(item.get("missing_since")),
    )


# ---- baselines: one item per collector, its recent settled jobs' output ---------------------
def baseline_key(collector_id: str) -> Key:
    return (f"BASELINE#{collector_id}", "BASELINE")


def baseline_item(collector_id: str, history: History) -> dict[str, Any]:
    """The item that replaces version `history.version` (so it carries the next version)."""
    pk, sk = baseline_key(collector_id)
    return {
        "pk": pk,
        "sk": sk,
        "collector_id": collector_id,
        "settled": history.to_dict()["settled"],
        "version": history.version + 1,
    }


def baseline_history(item: dict[str, Any]) -> tuple[str, History]:
    """The collector an item is about, and its settled jobs (with the item's version)."""
    history = History.from_dict({"settled": item.get("settled")}, int(item.get("version", 0)))
    return str(item["collector_id"]), history


# ---- reruns: how many each collector started per UTC day (the daily cap) ---------------------
# The count is only needed on its own day; kept a little longer, DynamoDB then deletes it.
_RERUN_COUNT_TTL_DAYS = 2


def rerun_count_key(collector_id: str, day: date) -> Key:
    return (f"RERUNS#{collector_id}", f"DAY#{day.isoformat()}")


def rerun_count_ttl(day: date) -> int:
    """When the count of `day` may go: a couple of days after that day began (UTC)."""
    return ttl_at(datetime.combine(day, time(), UTC), _RERUN_COUNT_TTL_DAYS)


# ---- collector alarms: one item per collector and rule -------------------------------------
def alarm_partition(collector_id: str) -> str:
    """The partition holding every alarm of one collector."""
    return f"COLLECTOR#{collector_id}"


ALARM_SORT_PREFIX = "RULE#"


def alarm_key(collector_id: str, rule: str) -> Key:
    return (alarm_partition(collector_id), f"{ALARM_SORT_PREFIX}{rule}")


def alarm_item(alarm: RuleAlarm) -> dict[str, Any]:
    pk, sk = alarm_key(alarm.collector_id, alarm.rule)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "collector_id": alarm.collector_id,
        "rule": alarm.rule,
        "state": alarm.state.value,
        "version": alarm.version,
        "outcomes": json.dumps(alarm.outcomes),
        "alarm_jobs": json.dumps(alarm.alarm_jobs),
    }
    if alarm.alarm_since:
        item["alarm_since"] = iso(alarm.alarm_since)
        # Open alarms sit in the sparse index so reminders find them without a Scan.
        item["gsi1pk"] = OPEN_ALARMS
        item["gsi1sk"] = f"{alarm.collector_id}#{alarm.rule}"
    if alarm.last_notified:
        item["last_notified"] = iso(alarm.last_notified)
    if alarm.hidden_by is not None:
        item["hidden_until"] = iso(alarm.hidden_by.until)
        item["hidden_reason"] = alarm.hidden_by.reason
        if alarm.hidden_by.created_by:
            item["hidden_by"] = alarm.hidden_by.created_by
    return item


def rule_alarm(item: dict[str, Any]) -> RuleAlarm:
    return RuleAlarm(
        collector_id=item["collector_id"],
        rule=item["rule"],
        state=AlarmState(item.get("state", "OK")),
        version=int(item.get("version", 0)),
        outcomes=json.loads(item.get("outcomes", "[]")),
        alarm_since=parse_iso(item.get("alarm_since")),
        last_notified=parse_iso(item.get("last_notified")),
        alarm_jobs=json.loads(item.get("alarm_jobs", "[]")),
        exists=True,
        hidden_by=_hidden_by(item),
    )


def _hidden_by(item: dict[str, Any]) -> Silence | None:
    until = parse_iso(item.get("hidden_until"))
    if until is None:
        return None
    reason = item.get("hidden_reason", "")
    return Silence(item["collector_id"], until, reason, item.get("hidden_by"))


# ---- alerts (the history) and the outbox of alerts owed to the topic -----------------------
def alert_key(alert_id: str) -> Key:
    return (f"ALERT#{alert_id}", "ALERT")


def alert_item(record: AlertRecord, ttl_days: int) -> dict[str, Any]:
    pk, sk = alert_key(record.alert_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "alert_id": record.alert_id,
        "status": record.status.value,
        "created_at": iso(record.created_at),
        "severity": record.severity,
        "subject": record.subject,
        "document": json.dumps(record.document, sort_keys=True),
        "gsi1pk": HISTORY,
        "gsi1sk": f"{iso(record.created_at)}#{record.alert_id}",
        "ttl": ttl_at(record.created_at, ttl_days),
    }
    if record.collector_id:
        item["collector_id"] = record.collector_id
    if record.suppressed_reason:
        item["suppressed_reason"] = record.suppressed_reason
    return item


def alert_record(item: dict[str, Any]) -> AlertRecord:
    return AlertRecord(
        alert_id=item["alert_id"],
        status=AlertStatus(item["status"]),
        created_at=parse_iso(item["created_at"]) or datetime.fromtimestamp(0, UTC),
        collector_id=item.get("collector_id"),
        severity=item.get("severity", "info"),
        subject=item.get("subject", ""),
        document=json.loads(item["document"]),
        sent_at=parse_iso(item.get("sent_at")),
        message_id=item.get("message_id"),
        suppressed_reason=item.get("suppressed_reason"),
    )


def outbox_key(entry_id: str) -> Key:
    return (OUTBOX, entry_id)


def outbox_item(
    record: AlertRecord, *, owner: str, lease_until: datetime | None, ttl: int
) -> dict[str, Any]:
    """The outbox entry of an alert to be sent, leased to `owner` until `lease_until` (or
    free for any run from the alert's creation)."""
    return {
        "pk": OUTBOX,
        "sk": f"{iso(record.created_at)}#{record.alert_id}",
        "alert_id": record.alert_id,
        "owner": owner,
        "lease_until": int((lease_until or record.created_at).timestamp()),
        "attempts": 0,
        "ttl": ttl,
    }


def outbox_entry(item: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(
        entry_id=item["sk"],
        alert_id=item["alert_id"],
        owner=item.get("owner"),
        lease_until=int(item["lease_until"]),
    )


# ---- silences: one item per silenced collector ---------------------------------------------
def silence_key(collector_id: str) -> Key:
    return (f"SILENCE#{collector_id}", "SILENCE")


def silence_item(silence: Silence) -> dict[str, Any]:
    pk, sk = silence_key(silence.collector_id)
    item = {
        "pk": pk,
        "sk": sk,
        "collector_id": silence.collector_id,
        "until": iso(silence.until),
        "reason": silence.reason,
        # DynamoDB deletes it a day after it ended; until then it is ignored when read.
        "ttl": int(silence.until.timestamp()) + 86400,
    }
    if silence.created_by:
        item["created_by"] = silence.created_by
    return item


def silence_record(item: dict[str, Any]) -> Silence | None:
    """The silence an item holds; None when its end cannot be read."""
    until = parse_iso(item["until"])
    if until is None:
        return None
    return Silence(item["collector_id"], until, item.get("reason", ""), item.get("created_by"))


# ---- monitor health: one item ----------------------------------------------------------------
HEALTH_KEY: Key = ("MONITOR", "HEALTH")
# The health item's attribute saying when a run should look for alarms a silence hid (epoch s).
HIDDEN_DUE = "hidden_due"
ACCOUNT_UNLISTED_RUNS = "account_unlisted_runs"


def health_item(health: Health) -> dict[str, Any]:
    pk, sk = HEALTH_KEY
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "state": health.state.value,
        "version": health.version,
    }
    if health.since:
        item["since"] = iso(health.since)
    if health.live_cursor:
        item["live_cursor"] = health.live_cursor
    if health.detail:
        item["detail"] = health.detail
    if health.hidden_due:
        item[HIDDEN_DUE] = int(health.hidden_due.timestamp())
    if health.account_unlisted_runs:
        item[ACCOUNT_UNLISTED_RUNS] = health.account_unlisted_runs
    return item


def health_record(item: dict[str, Any]) -> Health:
    return Health(
        state=HealthState(item.get("state", HealthState.HEALTHY.value)),
        since=parse_iso(item.get("since")),
        version=int(item.get("version", 0)),
        live_cursor=item.get("live_cursor"),
        detail=item.get("detail"),
        hidden_due=_moment_of(item.get(HIDDEN_DUE)),
        account_unlisted_runs=int(item.get(ACCOUNT_UNLISTED_RUNS, 0)),
    )


def _moment_of(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch is not None else None
