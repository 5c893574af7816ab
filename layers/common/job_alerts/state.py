"""DynamoDB data access for the one state table: jobs, collector alarms, decisions, alert outbox and
history, silences and monitor health. Every "only once" decision is a conditional write."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

LIVE = "LIVE"
HISTORY = "HISTORY"
OPEN_ALARMS = "OPEN_ALARMS"
OUTBOX = "OUTBOX"
_BATCH_GET_MAX = 100
_BATCH_WRITE_MAX = 25
_TRANSACTION_MAX = 100

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    UNKNOWN = "UNKNOWN"


class HealthState(StrEnum):
    HEALTHY = "HEALTHY"
    TOKEN_REJECTED = "TOKEN_REJECTED"  # noqa: S105 - a state name, not a secret
    API_UNREACHABLE = "API_UNREACHABLE"


class AlertStatus(StrEnum):
    PENDING = "PENDING"  # claimed, in the outbox, not yet confirmed published
    SENT = "SENT"
    SUPPRESSED = "SUPPRESSED"  # silenced: recorded, never sent


class StateError(RuntimeError):
    """A DynamoDB call failed in a way the run cannot work around."""


class ConflictError(StateError):
    """A conditional write lost against a concurrent writer; `failed_keys` names the items."""

    def __init__(self, message: str, failed_keys: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.failed_keys = tuple(failed_keys)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def ttl_at(moment: datetime, days: int) -> int:
    return int((moment + timedelta(days=days)).timestamp())


@dataclass
class JobRecord:
    job_id: str
    collector_id: str | None
    first_seen: datetime
    source: str = "discovered"  # discovered | track | webhook | event
    status: str | None = None
    settled: bool = False
    fingerprint: str | None = None
    log: dict[str, Any] | None = None  # JobLog.to_dict() of the last read
    last_read: datetime | None = None
    expired: bool = False
    ttl: int | None = None
    # Rules already alerted for this job: a cache that saves re-claiming; the ALERTED# claim
    # items stay the authority.
    alerted: list[str] = field(default_factory=list)

    @property
    def live_sort_key(self) -> str:
        return f"{iso(self.first_seen)}#{self.job_id}"

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": f"JOB#{self.job_id}",
            "sk": "JOB",
            "job_id": self.job_id,
            "first_seen": iso(self.first_seen),
            "source": self.source,
            "settled": self.settled,
            "expired": self.expired,
        }
        optional = {
            "collector_id": self.collector_id,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "log": json.dumps(self.log, sort_keys=True) if self.log is not None else None,
            "last_read": iso(self.last_read) if self.last_read else None,
            "ttl": self.ttl,
            "alerted": json.dumps(self.alerted) if self.alerted else None,
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        if not self.settled and not self.expired:
            item["gsi1pk"] = LIVE
            item["gsi1sk"] = self.live_sort_key
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> JobRecord:
        raw_log = item.get("log")
        return cls(
            job_id=item["job_id"],
            collector_id=item.get("collector_id"),
            first_seen=parse_iso(item["first_seen"]) or datetime.now(UTC),
            source=item.get("source", "discovered"),
            status=item.get("status"),
            settled=bool(item.get("settled", False)),
            fingerprint=item.get("fingerprint"),
            log=json.loads(raw_log) if raw_log else None,
            last_read=parse_iso(item.get("last_read")),
            expired=bool(item.get("expired", False)),
            ttl=int(item["ttl"]) if item.get("ttl") is not None else None,
            alerted=json.loads(item.get("alerted", "[]")),
        )


@dataclass
class RuleAlarm:
    """Alarm state of one collector and rule, with the outcomes of its last jobs (for M-of-N)."""

    collector_id: str
    rule: str
    state: AlarmState = AlarmState.OK
    version: int = 0
    # [job_id, verdict, created] of the most recently created jobs, oldest first; a job appears
    # once, with its latest verdict.
    outcomes: list[list[str]] = field(default_factory=list)
    alarm_since: datetime | None = None  # set while an alarm is open (ALARM, or UNKNOWN after it)
    last_notified: datetime | None = None
    alarm_jobs: list[str] = field(default_factory=list)
    exists: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (f"COLLECTOR#{self.collector_id}", f"RULE#{self.rule}")

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": self.key[0],
            "sk": self.key[1],
            "collector_id": self.collector_id,
            "rule": self.rule,
            "state": self.state.value,
            "version": self.version,
            "outcomes": json.dumps(self.outcomes),
            "alarm_jobs": json.dumps(self.alarm_jobs),
        }
        if self.alarm_since:
            item["alarm_since"] = iso(self.alarm_since)
            # Open alarms sit in the sparse index so reminders find them without a Scan.
            item["gsi1pk"] = OPEN_ALARMS
            item["gsi1sk"] = f"{self.collector_id}#{self.rule}"
        if self.last_notified:
            item["last_notified"] = iso(self.last_notified)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RuleAlarm:
        return cls(
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


@dataclass
class Health:
    state: HealthState = HealthState.HEALTHY
    since: datetime | None = None
    version: int = 0
    live_cursor: str | None = None  # gsi1sk of the last live job read: the next run starts after it
    detail: str | None = None


@dataclass(frozen=True)
class Silence:
    collector_id: str
    until: datetime
    reason: str
    created_by: str | None = None


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    status: AlertStatus
    created_at: datetime
    collector_id: str | None
    severity: str
    subject: str
    document: dict[str, Any]
    sent_at: datetime | None = None
    message_id: str | None = None
    suppressed_reason: str | None = None


@dataclass(frozen=True)
class Claim:
    """One conditional write that records a decision to alert, to go in the alert's transaction."""

    key: tuple[str, str]
    operation: dict[str, Any]  # a TransactWriteItems entry (Put / Update)


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
                    record = JobRecord.from_item(_des(raw))
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
                Item=_ser(record.to_item()),
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
            jobs.append(JobRecord.from_item(_des(raw)))
            if limit is not None and len(jobs) >= limit:
                break
        return jobs

    def put_jobs(self, records: Sequence[JobRecord]) -> None:
        """Batch-write job states (whole items; decisions live on separate items, so a stale
        overwrite here can at worst cause one extra read, never a lost or repeated alert)."""
        requests = [{"PutRequest": {"Item": _ser(r.to_item())}} for r in records]
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
        alarms = [RuleAlarm.from_item(_des(raw)) for raw in self._query(kwargs)]
        return {a.rule: a for a in alarms}

    def alarm_write(self, alarm: RuleAlarm, expected_version: int) -> dict[str, Any]:
        """A Put of the alarm guarded by the version it was read at (optimistic locking)."""
        put: dict[str, Any] = {"TableName": self.table, "Item": _ser(alarm.to_item())}
        if expected_version == 0 and not alarm.exists:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        return {"Put": put}

    def save_alarm(self, alarm: RuleAlarm, expected_version: int) -> None:
        op = self.alarm_write(alarm, expected_version)["Put"]
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.put_item(**op)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConflictError("alarm changed concurrently", [alarm.key]) from None
            raise

    def collectors_with_open_alarms(self) -> set[str]:
        kwargs = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :open",
            "ExpressionAttributeValues": {":open": {"S": OPEN_ALARMS}},
        }
        return {_des(raw)["collector_id"] for raw in self._query(kwargs)}

    def collector_meta(self) -> dict[str, dict[str, Any]]:
        """What the last runs saw of each collector (name, last_run), to skip unchanged ones."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "COLLECTORS"}},
            "ConsistentRead": True,
        }
        return {item["sk"]: item for item in (_des(raw) for raw in self._query(kwargs))}

    def save_collector_meta(self, metas: Sequence[dict[str, Any]]) -> None:
        requests = [
            {"PutRequest": {"Item": _ser({"pk": "COLLECTORS", "sk": m["collector_id"], **m})}}
            for m in metas
        ]
        self._batch_write(requests)

    # ---- decisions and the outbox ---------------------------------------------------------
    def job_claim(self, job_id: str, rule: str, now: datetime, ttl_days: int) -> Claim:
        key = (f"JOB#{job_id}", f"ALERTED#{rule}")
        item = {"pk": key[0], "sk": key[1], "at": iso(now), "ttl": ttl_at(now, ttl_days)}
        op = {
            "Put": {
                "TableName": self.table,
                "Item": _ser(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        return Claim(key=key, operation=op)

    def alarm_claim(self, alarm: RuleAlarm, expected_version: int) -> Claim:
        return Claim(key=alarm.key, operation=self.alarm_write(alarm, expected_version))

    def health_claim(self, health: Health, expected_version: int) -> Claim:
        return Claim(
            key=("MONITOR", "HEALTH"), operation=self._health_put(health, expected_version)
        )

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
        ops = [c.operation for c in claims]
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
        if len(ops) > _TRANSACTION_MAX:
            raise StateError(f"an alert may carry at most {_TRANSACTION_MAX - 2} decisions")
        keys = [c.key for c in claims] + [(item["pk"], item["sk"])]
        try:
            self.ops.writes += 1
            self.ops.items_written += len(ops)
            self.client.transact_write_items(TransactItems=ops)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            failed = [
                keys[i]
                for i, reason in enumerate(reasons)
                if i < len(keys) and reason.get("Code") == "ConditionalCheckFailed"
            ]
            if not reasons or not failed:
                # moto and DynamoDB both say which item failed; without that, treat the whole
                # alert as contended so the caller reloads instead of guessing.
                failed = keys
            raise ConflictError("a decision was already claimed", failed) from None

    def pending_outbox(self, now: datetime, owner: str) -> list[dict[str, Any]]:
        """Outbox entries this run may publish: its own, or others whose lease has run out."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": OUTBOX}},
            "ConsistentRead": True,
        }
        entries = []
        for raw in self._query(kwargs):
            entry = _des(raw)
            if entry.get("owner") == owner or int(entry["lease_until"]) <= now.timestamp():
                entries.append(entry)
        return entries

    def take_lease(self, entry: dict[str, Any], owner: str, until: datetime, now: datetime) -> bool:
        """Conditionally take an outbox entry so two runs never publish it at the same time."""
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.update_item(
                TableName=self.table,
                Key=_key(OUTBOX, entry["sk"]),
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

    def release_lease(self, entry: dict[str, Any], owner: str) -> None:
        """After a failed publish: let the next run retry at once instead of after the lease."""
        try:
            self.ops.writes += 1
            self.ops.items_written += 1
            self.client.update_item(
                TableName=self.table,
                Key=_key(OUTBOX, entry["sk"]),
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

    def mark_sent(self, entry: dict[str, Any], message_id: str, now: datetime) -> None:
        self.ops.writes += 1
        self.ops.items_written += 2
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(f"ALERT#{entry['alert_id']}", "ALERT"),
                        "UpdateExpression": "SET #s = :sent, sent_at = :at, message_id = :mid",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {
                            ":sent": {"S": AlertStatus.SENT.value},
                            ":at": {"S": iso(now)},
                            ":mid": {"S": message_id},
                        },
                    }
                },
                {"Delete": {"TableName": self.table, "Key": _key(OUTBOX, entry["sk"])}},
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
            TableName=self.table, Key=_key("MONITOR", "HEALTH"), ConsistentRead=True
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
                Key=_key("MONITOR", "HEALTH"),
                UpdateExpression="REMOVE live_cursor",
            )
        else:
            self.client.update_item(
                TableName=self.table,
                Key=_key("MONITOR", "HEALTH"),
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
        created_at=parse_iso(item["created_at"]) or datetime.now(UTC),
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
