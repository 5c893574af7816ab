"""DynamoDB data access for the one state table: jobs, collector alarms, decisions, alert outbox and
history, silences and monitor health. Every "only once" decision is a conditional write. The item
and key formats live here and nowhere else; callers see the domain types of `models`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from job_alerts.models import (
    AlarmClaim,
    AlarmState,
    AlertRecord,
    AlertStatus,
    Claim,
    CollectorMeta,
    ConflictError,
    Health,
    HealthState,
    JobRecord,
    JobRuleClaim,
    OutboxEntry,
    RuleAlarm,
    Silence,
    StateError,
)
from job_alerts.timeutil import iso, parse_iso, ttl_at

LIVE = "LIVE"
HISTORY = "HISTORY"
OPEN_ALARMS = "OPEN_ALARMS"
OUTBOX = "OUTBOX"
_BATCH_GET_MAX = 100
_BATCH_WRITE_MAX = 25
TRANSACTION_MAX_ITEMS = 100
# DynamoDB refuses items over 400 KB; a job item stays well under it (see _bounded).
_JOB_ITEM_MAX_BYTES = 100 * 1024

__all__ = [
    "HISTORY",
    "LIVE",
    "OPEN_ALARMS",
    "OUTBOX",
    "TRANSACTION_MAX_ITEMS",
    "StateStore",
    "claim_ttl",
]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _job_item(record: JobRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"JOB#{record.job_id}",
        "sk": "JOB",
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
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    if not record.settled and not record.expired:
        item["gsi1pk"] = LIVE
        item["gsi1sk"] = record.live_sort_key
    return item


def _job_record(item: dict[str, Any]) -> JobRecord:
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
    )


def _bounded(item: dict[str, Any]) -> dict[str, Any]:
    """A job item that can always be stored: were the last read's log ever too big (it is
    bounded when parsed; this guards the limit itself), the log is dropped, the rest kept."""
    if len(json.dumps(item, default=str)) <= _JOB_ITEM_MAX_BYTES:
        return item
    return {k: v for k, v in item.items() if k != "log"}


def claim_ttl(claim: JobRuleClaim) -> int:
    return ttl_at(claim.at, claim.ttl_days)


def _collector_meta_item(meta: CollectorMeta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": "COLLECTORS",
        "sk": meta.collector_id,
        "collector_id": meta.collector_id,
        "name": meta.name,
        "last_run": meta.last_run,
    }
    if meta.listed_at:
        item["listed_at"] = iso(meta.listed_at)
    if meta.full_at:
        item["full_at"] = iso(meta.full_at)
    return item


def _collector_meta(item: dict[str, Any]) -> CollectorMeta:
    return CollectorMeta(
        collector_id=item["sk"],
        name=str(item.get("name") or item["sk"]),
        last_run=str(item.get("last_run") or ""),
        listed_at=parse_iso(item.get("listed_at")),
        full_at=parse_iso(item.get("full_at")),
    )


def _alarm_key(collector_id: str, rule: str) -> tuple[str, str]:
    return (f"COLLECTOR#{collector_id}", f"RULE#{rule}")


def _job_rule_key(job_id: str, rule: str) -> tuple[str, str]:
    return (f"JOB#{job_id}", f"ALERTED#{rule}")


_HEALTH_KEY = ("MONITOR", "HEALTH")


def _alarm_item(alarm: RuleAlarm) -> dict[str, Any]:
    pk, sk = _alarm_key(alarm.collector_id, alarm.rule)
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
    return item


def _rule_alarm(item: dict[str, Any]) -> RuleAlarm:
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
    )


def _ser(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def _des(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


@dataclass
class OpCounter:
    reads: int = 0  # read operations (GetItem/Query pages/BatchGetItem calls)
    writes: int = 0  # write operations (Put/Update/Delete/BatchWrite calls/transactions)
    items_written: int = 0

    def snapshot(self) -> dict[str, int]:
        return {"reads": self.reads, "writes": self.writes, "items_written": self.items_written}


class StateStore:
    """All access to the state table. Methods map to the questions the monitor asks."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.client = client
        self.ops = OpCounter()

    # ---- jobs -----------------------------------------------------------------------------
    def get_jobs(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        found: dict[str, JobRecord] = {}
        ids = list(dict.fromkeys(job_ids))
        for start in range(0, len(ids), _BATCH_GET_MAX):
            keys = [_key(f"JOB#{jid}", "JOB") for jid in ids[start : start + _BATCH_GET_MAX]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            attempt = 0
            while request:
                self.ops.reads += 1
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table, []):
                    record = _job_record(_des(raw))
                    found[record.job_id] = record
                request = response.get("UnprocessedKeys") or {}
                attempt = _backoff(attempt) if request else 0
        return found

    def add_job(self, record: JobRecord) -> bool:
        """Record a newly seen job; False when it is already known (another run or route won)."""
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.put_item(
                TableName=self.table,
                Item=_ser(_job_item(record)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def live_jobs(self, limit: int | None = None) -> list[JobRecord]:
        """Live jobs oldest first, through the sparse index (never a Scan)."""
        jobs: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :live",
            "ExpressionAttributeValues": {":live": {"S": LIVE}},
        }
        for raw in self._query(kwargs):
            jobs.append(_job_record(_des(raw)))
            if limit is not None and len(jobs) >= limit:
                break
        return jobs

    def put_jobs(self, records: Sequence[JobRecord]) -> None:
        """Batch-write job states (whole items; decisions live on separate items, so a stale
        overwrite here can at worst cause one extra read, never a lost or repeated alert)."""
        requests = [{"PutRequest": {"Item": _ser(_bounded(_job_item(r)))}} for r in records]
        self._batch_write(requests)

    # ---- collector alarms -----------------------------------------------------------------
    def get_alarms(self, collector_id: str) -> dict[str, RuleAlarm]:
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :rule)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"COLLECTOR#{collector_id}"},
                ":rule": {"S": "RULE#"},
            },
            "ConsistentRead": True,
        }
        alarms = [_rule_alarm(_des(raw)) for raw in self._query(kwargs)]
        return {a.rule: a for a in alarms}

    def _alarm_put(self, alarm: RuleAlarm, expected_version: int) -> dict[str, Any]:
        """A Put of the alarm guarded by the version it was read at (optimistic locking)."""
        put: dict[str, Any] = {"TableName": self.table, "Item": _ser(_alarm_item(alarm))}
        if expected_version == 0 and not alarm.exists:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        return {"Put": put}

    def save_alarm(self, alarm: RuleAlarm, expected_version: int) -> None:
        op = self._alarm_put(alarm, expected_version)["Put"]
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.put_item(**op)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConflictError(
                    "alarm changed concurrently", (AlarmClaim(alarm, expected_version),)
                ) from None
            raise

    def collectors_with_open_alarms(self) -> set[str]:
        kwargs = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :open",
            "ExpressionAttributeValues": {":open": {"S": OPEN_ALARMS}},
        }
        return {_des(raw)["collector_id"] for raw in self._query(kwargs)}

    def collector_meta(self) -> dict[str, CollectorMeta]:
        """What the last runs saw of each collector (name, last_run), to skip unchanged ones."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "COLLECTORS"}},
            "ConsistentRead": True,
        }
        metas = (_collector_meta(_des(raw)) for raw in self._query(kwargs))
        return {meta.collector_id: meta for meta in metas}

    def save_collector_meta(self, metas: Sequence[CollectorMeta]) -> None:
        requests = [{"PutRequest": {"Item": _ser(_collector_meta_item(m))}} for m in metas]
        self._batch_write(requests)

    # ---- decisions and the outbox ---------------------------------------------------------
    def _claim_operation(self, claim: Claim) -> tuple[tuple[str, str], dict[str, Any]]:
        """The key and TransactWriteItems entry that record one claim."""
        if isinstance(claim, JobRuleClaim):
            key = _job_rule_key(claim.job_id, claim.rule)
            item = {"pk": key[0], "sk": key[1], "at": iso(claim.at), "ttl": claim_ttl(claim)}
            put = {
                "TableName": self.table,
                "Item": _ser(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
            return key, {"Put": put}
        if isinstance(claim, AlarmClaim):
            key = _alarm_key(claim.alarm.collector_id, claim.alarm.rule)
            return key, self._alarm_put(claim.alarm, claim.expected_version)
        return _HEALTH_KEY, self._health_put(claim.health, claim.expected_version)

    def record_alert(
        self,
        record: AlertRecord,
        claims: Sequence[Claim],
        *,
        ttl_days: int,
        lease_until: datetime | None,
        owner: str,
    ) -> None:
        """Atomically claim every decision and store the alert (plus its outbox entry when it is
        to be sent). Raises ConflictError naming the claims another run already made."""
        item = _alert_item(record, ttl_days)
        keyed = [self._claim_operation(c) for c in claims]
        ops = [op for _, op in keyed]
        ops.append(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _ser(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        if record.status is AlertStatus.PENDING:
            outbox = {
                "pk": OUTBOX,
                "sk": f"{iso(record.created_at)}#{record.alert_id}",
                "alert_id": record.alert_id,
                "owner": owner,
                "lease_until": int((lease_until or record.created_at).timestamp()),
                "attempts": 0,
                "ttl": item["ttl"],
            }
            ops.append({"Put": {"TableName": self.table, "Item": _ser(outbox)}})
        if len(ops) > TRANSACTION_MAX_ITEMS:
            raise StateError(f"an alert may carry at most {TRANSACTION_MAX_ITEMS - 2} decisions")
        try:
            self.ops.writes += 1
            self.ops.items_written += len(ops)
            self.client.transact_write_items(TransactItems=ops)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            failed = tuple(
                claims[i]
                for i, reason in enumerate(reasons)
                if i < len(claims) and reason.get("Code") == "ConditionalCheckFailed"
            )
            if not reasons or not failed:
                # moto and DynamoDB both say which item failed; without that, treat the whole
                # alert as contended so the caller reloads instead of guessing.
                failed = tuple(claims)
            raise ConflictError("a decision was already claimed", failed) from None

    def pending_outbox(self, now: datetime, owner: str) -> list[OutboxEntry]:
        """Outbox entries this run may publish: its own, or others whose lease has run out."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": OUTBOX}},
            "ConsistentRead": True,
        }
        entries = []
        for raw in self._query(kwargs):
            item = _des(raw)
            entry = OutboxEntry(
                entry_id=item["sk"],
                alert_id=item["alert_id"],
                owner=item.get("owner"),
                lease_until=int(item["lease_until"]),
            )
            if entry.owner == owner or entry.lease_until <= now.timestamp():
                entries.append(entry)
        return entries

    def take_lease(self, entry: OutboxEntry, owner: str, until: datetime, now: datetime) -> bool:
        """Conditionally take an outbox entry so two runs never publish it at the same time."""
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.update_item(
                TableName=self.table,
                Key=_key(OUTBOX, entry.entry_id),
                UpdateExpression="SET #o = :me, lease_until = :until ADD attempts :one",
                ConditionExpression="attribute_exists(pk) AND (#o = :me OR lease_until <= :now)",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":until": {"N": str(int(until.timestamp()))},
                    ":now": {"N": str(int(now.timestamp()))},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lease(self, entry: OutboxEntry, owner: str) -> None:
        """After a failed publish: let the next run retry at once instead of after the lease."""
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.update_item(
                TableName=self.table,
                Key=_key(OUTBOX, entry.entry_id),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":me": {"S": owner}},
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        self.ops.reads += 1
        response = self.client.get_item(
            TableName=self.table, Key=_key(f"ALERT#{alert_id}", "ALERT"), ConsistentRead=True
        )
        raw = response.get("Item")
        return _alert_record(_des(raw)) if raw else None

    def mark_sent(self, entry: OutboxEntry, message_id: str, now: datetime) -> None:
        self.ops.writes += 1
        self.ops.items_written += 2
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(f"ALERT#{entry.alert_id}", "ALERT"),
                        "UpdateExpression": "SET #s = :sent, sent_at = :at, message_id = :mid",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {
                            ":sent": {"S": AlertStatus.SENT.value},
                            ":at": {"S": iso(now)},
                            ":mid": {"S": message_id},
                        },
                    }
                },
                {"Delete": {"TableName": self.table, "Key": _key(OUTBOX, entry.entry_id)}},
            ]
        )

    # ---- history --------------------------------------------------------------------------
    def history(
        self, *, since: datetime | None = None, collector_id: str | None = None, limit: int = 100
    ) -> list[AlertRecord]:
        values: dict[str, Any] = {":h": {"S": HISTORY}}
        condition = "gsi1pk = :h"
        if since is not None:
            condition += " AND gsi1sk >= :since"
            values[":since"] = {"S": iso(since)}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        records = []
        for raw in self._query(kwargs):
            record = _alert_record(_des(raw))
            if collector_id and record.collector_id != collector_id:
                continue
            records.append(record)
            if len(records) >= limit:
                break
        return records

    # ---- silences -------------------------------------------------------------------------
    def silence(self, silence: Silence) -> None:
        item = {
            "pk": f"SILENCE#{silence.collector_id}",
            "sk": "SILENCE",
            "collector_id": silence.collector_id,
            "until": iso(silence.until),
            "reason": silence.reason,
            "ttl": int(silence.until.timestamp()) + 86400,
        }
        if silence.created_by:
            item["created_by"] = silence.created_by
        self.ops.writes += 1
        self.client.put_item(TableName=self.table, Item=_ser(item))

    def unsilence(self, collector_id: str) -> bool:
        self.ops.writes += 1
        response = self.client.delete_item(
            TableName=self.table,
            Key=_key(f"SILENCE#{collector_id}", "SILENCE"),
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))

    def active_silence(self, collector_id: str, now: datetime) -> Silence | None:
        self.ops.reads += 1
        response = self.client.get_item(
            TableName=self.table,
            Key=_key(f"SILENCE#{collector_id}", "SILENCE"),
            ConsistentRead=True,
        )
        raw = response.get("Item")
        if not raw:
            return None
        item = _des(raw)
        until = parse_iso(item["until"])
        if until is None or until <= now:
            return None
        return Silence(collector_id, until, item.get("reason", ""), item.get("created_by"))

    # ---- monitor health -------------------------------------------------------------------
    def get_health(self) -> Health:
        self.ops.reads += 1
        response = self.client.get_item(
            TableName=self.table, Key=_key(*_HEALTH_KEY), ConsistentRead=True
        )
        raw = response.get("Item")
        if not raw:
            return Health()
        item = _des(raw)
        return Health(
            state=HealthState(item.get("state", HealthState.HEALTHY.value)),
            since=parse_iso(item.get("since")),
            version=int(item.get("version", 0)),
            live_cursor=item.get("live_cursor"),
            detail=item.get("detail"),
        )

    def save_cursor(self, cursor: str | None) -> None:
        self.ops.writes += 1
        self.ops.items_written += 1
        if cursor is None:
            self.client.update_item(
                TableName=self.table,
                Key=_key(*_HEALTH_KEY),
                UpdateExpression="REMOVE live_cursor",
            )
        else:
            self.client.update_item(
                TableName=self.table,
                Key=_key(*_HEALTH_KEY),
                UpdateExpression="SET live_cursor = :c",
                ExpressionAttributeValues={":c": {"S": cursor}},
            )

    def _health_put(self, health: Health, expected_version: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": "MONITOR",
            "sk": "HEALTH",
            "state": health.state.value,
            "version": health.version,
        }
        if health.since:
            item["since"] = iso(health.since)
        if health.live_cursor:
            item["live_cursor"] = health.live_cursor
        if health.detail:
            item["detail"] = health.detail
        put: dict[str, Any] = {"TableName": self.table, "Item": _ser(item)}
        if expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(version) OR version = :v"
        else:
            put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        return {"Put": put}

    # ---- plumbing -------------------------------------------------------------------------
    def _query(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            self.ops.reads += 1
            response = self.client.query(**kwargs)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": last}

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), _BATCH_WRITE_MAX):
            pending: dict[str, Any] = {self.table: requests[start : start + _BATCH_WRITE_MAX]}
            attempt = 0
            while pending:
                self.ops.writes += 1
                self.ops.items_written += len(pending[self.table])
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                attempt = _backoff(attempt) if pending else 0


def _alert_item(record: AlertRecord, ttl_days: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"ALERT#{record.alert_id}",
        "sk": "ALERT",
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


def _alert_record(item: dict[str, Any]) -> AlertRecord:
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


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _backoff(attempt: int) -> int:
    """Sleep before re-sending unprocessed batch items (DynamoDB asks callers to back off)."""
    if attempt >= 8:
        raise StateError("DynamoDB kept returning unprocessed items; giving up for this run")
    time.sleep(min(0.05 * (2**attempt), 2.0))
    return attempt + 1
