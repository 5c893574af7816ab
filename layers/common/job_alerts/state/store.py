"""StateStore: the one entry point to the state table, one method per question the monitor asks
(jobs, collector alarms and listings, alerts and the outbox, silences, monitor health). Items
and keys come from `items`, the conditional writes behind "only once" from `transactions`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from job_alerts.history import History
from job_alerts.models import (
    AlarmClaim,
    AlertRecord,
    Claim,
    CollectorMeta,
    ConflictError,
    ContendedError,
    Health,
    JobRecord,
    JobRuleClaim,
    OutboxEntry,
    RuleAlarm,
    Silence,
    StateError,
)
from job_alerts.state.items import (
    ACCOUNT_UNLISTED_RUNS,
    ALARM_SORT_PREFIX,
    COLLECTORS,
    HEALTH_KEY,
    HIDDEN_DUE,
    HISTORY,
    LIVE,
    OPEN_ALARMS,
    OUTBOX,
    alarm_partition,
    alert_key,
    alert_record,
    baseline_history,
    baseline_item,
    baseline_key,
    bounded_job_item,
    collector_meta,
    collector_meta_item,
    from_attributes,
    health_record,
    job_item,
    job_key,
    job_record,
    key_attributes,
    outbox_entry,
    outbox_key,
    rule_alarm,
    silence_item,
    silence_key,
    silence_record,
    to_attributes,
)
from job_alerts.state.transactions import (
    alarm_put,
    mark_sent_items,
    record_alert_items,
    refused_claims,
    rerun_claim_items,
)
from job_alerts.timeutil import iso

_BATCH_GET_MAX = 100
_BATCH_WRITE_MAX = 25
_RERUN_CLAIM_ATTEMPTS = 3
# A transaction cancelled for contention is sent again this many times in all, backing off.
_TRANSACTION_ATTEMPTS = 4

__all__ = ["OpCounter", "RerunClaim", "StateStore"]


class RerunClaim(StrEnum):
    """The answer to claiming a job's rerun."""

    CLAIMED = "claimed"  # this run starts it
    TAKEN = "taken"  # another run (or an earlier attempt of this one) claimed it first
    CAPPED = "capped"  # the collector started its reruns of the day already


@dataclass
class OpCounter:
    reads: int = 0  # read operations (GetItem/Query pages/BatchGetItem calls)
    writes: int = 0  # write operations (Put/Update/Delete/BatchWrite calls/transactions)
    items_written: int = 0

    def snapshot(self) -> dict[str, int]:
        return {"reads": self.reads, "writes": self.writes, "items_written": self.items_written}


class StateStore:
    """All access to the state table. Methods map to the questions the monitor asks."""

    def __init__(
        self, table_name: str, client: Any, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.table = table_name
        self.client = client
        self.ops = OpCounter()
        # How the store waits before trying a refused write again (a test passes a no-op).
        self.sleep = sleep

    # ---- jobs -----------------------------------------------------------------------------
    def get_jobs(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        records = (job_record(item) for item in self._batch_get(map(job_key, job_ids)))
        return {record.job_id: record for record in records}

    def add_job(self, record: JobRecord) -> bool:
        """Record a newly seen job; False when it is already known (another run or route won)."""
        return self._write_if(
            self.client.put_item,
            Item=to_attributes(job_item(record)),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def tag_rerun(self, job_id: str, rerun_of: str) -> None:
        """Mark a job already known (found by a listing first) as the rerun of `rerun_of`."""
        self.ops.writes += 1
        self.ops.items_written += 1
        self.client.update_item(
            TableName=self.table,
            Key=key_attributes(job_key(job_id)),
            UpdateExpression="SET rerun_of = :of",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":of": {"S": rerun_of}},
        )

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
            jobs.append(job_record(from_attributes(raw)))
            if limit is not None and len(jobs) >= limit:
                break
        return jobs

    def put_jobs(self, records: Sequence[JobRecord]) -> None:
        """Batch-write job states (whole items; decisions live on separate items, so a stale
        overwrite here can at worst cause one extra read, never a lost or repeated alert)."""
        requests = [{"PutRequest": {"Item": to_attributes(bounded_job_item(r))}} for r in records]
        self._batch_write(requests)

    # ---- collector alarms -----------------------------------------------------------------
    def get_alarms(self, collector_id: str) -> dict[str, RuleAlarm]:
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :rule)",
            "ExpressionAttributeValues": {
                ":pk": {"S": alarm_partition(collector_id)},
                ":rule": {"S": ALARM_SORT_PREFIX},
            },
            "ConsistentRead": True,
        }
        alarms = [rule_alarm(from_attributes(raw)) for raw in self._query(kwargs)]
        return {a.rule: a for a in alarms}

    def save_alarm(self, alarm: RuleAlarm, expected_version: int) -> None:
        op = dict(alarm_put(self.table, alarm, expected_version)["Put"])
        del op["TableName"]  # _write_if names the table
        if not self._write_if(self.client.put_item, **op):
            raise ConflictError(
                "alarm changed concurrently", (AlarmClaim(alarm, expected_version),)
            )

    def collectors_with_open_alarms(self) -> set[str]:
        kwargs = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :open",
            "ExpressionAttributeValues": {":open": {"S": OPEN_ALARMS}},
        }
        return {from_attributes(raw)["collector_id"] for raw in self._query(kwargs)}

    # ---- collector listings ---------------------------------------------------------------
    def collector_meta(self) -> dict[str, CollectorMeta]:
        """What the last runs saw of each collector (name, last_run), to skip unchanged ones."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": COLLECTORS}},
            "ConsistentRead": True,
        }
        metas = (collector_meta(from_attributes(raw)) for raw in self._query(kwargs))
        return {meta.collector_id: meta for meta in metas}

    def save_collector_meta(self, metas: Sequence[CollectorMeta]) -> None:
        requests = [{"PutRequest": {"Item": to_attributes(collector_meta_item(m))}} for m in metas]
        self._batch_write(requests)

    # ---- collector baselines --------------------------------------------------------------
    def baselines(self, collector_ids: Iterable[str]) -> dict[str, History]:
        """The remembered settled jobs of these collectors (one batch read for all of them); a
        collector with none yet has an empty history."""
        wanted = list(dict.fromkeys(collector_ids))
        found = dict(baseline_history(item) for item in self._batch_get(map(baseline_key, wanted)))
        return {cid: found.get(cid, History()) for cid in wanted}

    def save_baseline(self, collector_id: str, history: History) -> bool:
        """Replace the collector's baseline, provided nobody replaced it since it was read
        (`history.version`); False when somebody did."""
        return self._write_if(
            self.client.put_item,
            Item=to_attributes(baseline_item(collector_id, history)),
            ConditionExpression="attribute_not_exists(pk) OR version = :v",
            ExpressionAttributeValues={":v": {"N": str(history.version)}},
        )

    # ---- decisions and the outbox ---------------------------------------------------------
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
        to be sent). Raises ConflictError naming the claims another run already made, and
        ContendedError when DynamoDB kept cancelling it for other reasons (nothing written)."""
        ops = record_alert_items(
            self.table, record, claims, ttl_days=ttl_days, lease_until=lease_until, owner=owner
        )
        reasons: list[str] = []
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                self.ops.writes += 1
                self.ops.items_written += len(ops)
                self.client.transact_write_items(TransactItems=ops)
                return
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                refused = refused_claims(exc, claims)
                if refused:
                    raise ConflictError("a decision was already claimed", refused) from None
                reasons = _cancellation_codes(exc)
            # Cancelled for a reason that claims nothing (a concurrent transaction on the same
            # items, throttling): nothing was written, so sending it again cannot double it.
            if attempt + 1 < _TRANSACTION_ATTEMPTS:
                self._pause(attempt)
        raise ContendedError(
            f"recording alert {record.alert_id} was cancelled {_TRANSACTION_ATTEMPTS} times "
            f"({', '.join(reasons) or 'no reason given'}); its decisions stay owed"
        )

    def claim_rerun(self, claim: JobRuleClaim, collector_id: str, cap: int) -> RerunClaim:
        """Claim the rerun of a job, once ever, and count it against its collector's `cap` reruns
        of the claim's UTC day, both in one transaction: neither happens without the other."""
        ops = rerun_claim_items(self.table, claim, collector_id, cap)
        for attempt in range(_RERUN_CLAIM_ATTEMPTS):
            try:
                self.ops.writes += 1
                self.ops.items_written += len(ops)
                self.client.transact_write_items(TransactItems=ops)
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                codes = [str(reason.get("Code", "")) for reason in reasons] + ["", ""]
                if codes[0] == "ConditionalCheckFailed":
                    return RerunClaim.TAKEN
                if codes[1] == "ConditionalCheckFailed":
                    return RerunClaim.CAPPED
                # Cancelled for contention (another run's transaction on the same day's count):
                # nothing was written, so trying again cannot double anything.
                self._pause(attempt)
                continue
            return RerunClaim.CLAIMED
        raise StateError(f"could not claim the rerun of {claim.job_id}: contended")

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
            entry = outbox_entry(from_attributes(raw))
            if entry.owner == owner or entry.lease_until <= now.timestamp():
                entries.append(entry)
        return entries

    def take_lease(self, entry: OutboxEntry, owner: str, until: datetime, now: datetime) -> bool:
        """Conditionally take an outbox entry so two runs never publish it at the same time."""
        return self._write_if(
            self.client.update_item,
            Key=key_attributes(outbox_key(entry.entry_id)),
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

    def release_lease(self, entry: OutboxEntry, owner: str) -> None:
        """After a failed publish: let the next run retry at once instead of after the lease
        (unless another run took the entry meanwhile)."""
        self._write_if(
            self.client.update_item,
            Key=key_attributes(outbox_key(entry.entry_id)),
            UpdateExpression="SET lease_until = :zero",
            ConditionExpression="#o = :me",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":zero": {"N": "0"}, ":me": {"S": owner}},
        )

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        self.ops.reads += 1
        response = self.client.get_item(
            TableName=self.table, Key=key_attributes(alert_key(alert_id)), ConsistentRead=True
        )
        raw = response.get("Item")
        return alert_record(from_attributes(raw)) if raw else None

    def mark_sent(self, entry: OutboxEntry, message_id: str, now: datetime) -> None:
        self.ops.writes += 1
        self.ops.items_written += 2
        self.client.transact_write_items(
            TransactItems=mark_sent_items(self.table, entry, message_id, now)
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
            record = alert_record(from_attributes(raw))
            if collector_id and record.collector_id != collector_id:
                continue
            records.append(record)
            if len(records) >= limit:
                break
        return records

    # ---- silences -------------------------------------------------------------------------
    def silence(self, silence: Silence) -> None:
        self.ops.writes += 1
        self.client.put_item(TableName=self.table, Item=to_attributes(silence_item(silence)))

    def unsilence(self, collector_id: str, now: datetime) -> bool:
        """End a collector's silence now; True when there was one. An alarm it hid is then due
        to be announced by the next run."""
        self.ops.writes += 1
        response = self.client.delete_item(
            TableName=self.table,
            Key=key_attributes(silence_key(collector_id)),
            ReturnValues="ALL_OLD",
        )
        removed = bool(response.get("Attributes"))
        if removed:
            self.hidden_alarm_due(now, only_if_hidden=True)
        return removed

    def active_silence(self, collector_id: str, now: datetime) -> Silence | None:
        self.ops.reads += 1
        response = self.client.get_item(
            TableName=self.table,
            Key=key_attributes(silence_key(collector_id)),
            ConsistentRead=True,
        )
        raw = response.get("Item")
        if not raw:
            return None
        silence = silence_record(from_attributes(raw))
        if silence is None or silence.until <= now:
            return None
        return silence

    # ---- monitor health -------------------------------------------------------------------
    def get_health(self) -> Health:
        self.ops.reads += 1
        response = self.client.get_item(
            TableName=self.table, Key=key_attributes(HEALTH_KEY), ConsistentRead=True
        )
        raw = response.get("Item")
        return health_record(from_attributes(raw)) if raw else Health()

    def hidden_alarm_due(self, due: datetime, *, only_if_hidden: bool = False) -> None:
        """Note on the health item that from `due` on (the end of the silence that hid an alarm's
        opening), a run must look for open alarms still unannounced; an earlier due time already
        noted stands. With `only_if_hidden`, only brings forward a due time already noted (a
        silence removed early). Counts as a change of health (its version moves), so a health
        Put read before it is refused rather than erasing the note."""
        condition = f"attribute_not_exists({HIDDEN_DUE}) OR {HIDDEN_DUE} > :due"
        if only_if_hidden:
            condition = f"attribute_exists({HIDDEN_DUE}) AND {HIDDEN_DUE} > :due"
        self._write_if(
            self.client.update_item,
            Key=key_attributes(HEALTH_KEY),
            UpdateExpression=f"SET {HIDDEN_DUE} = :due ADD version :one",
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":due": {"N": str(int(due.timestamp()))},
                ":one": {"N": "1"},
            },
        )

    def settle_hidden_due(self, read: Health, due: datetime | None) -> bool:
        """After a run looked for hidden alarms: the next due time (the earliest silence still
        hiding one), or none left, provided the note is still what this run read; False when
        another run changed it meanwhile (that note then stands)."""
        values: dict[str, Any] = {":one": {"N": "1"}}
        if read.hidden_due is None:
            condition = f"attribute_not_exists({HIDDEN_DUE})"
        else:
            condition = f"{HIDDEN_DUE} = :read"
            values[":read"] = {"N": str(int(read.hidden_due.timestamp()))}
        if due is None:
            update = f"REMOVE {HIDDEN_DUE} ADD version :one"
        else:
            update = f"SET {HIDDEN_DUE} = :due ADD version :one"
            values[":due"] = {"N": str(int(due.timestamp()))}
        return self._write_if(
            self.client.update_item,
            Key=key_attributes(HEALTH_KEY),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )

    def save_account_unlisted_runs(self, runs: int) -> None:
        """Note how many runs in a row collectors_list failed (0: it answered). Not a change of
        health (its version stays): a health change written meanwhile carries its own count."""
        self.ops.writes += 1
        self.ops.items_written += 1
        if runs:
            update = f"SET {ACCOUNT_UNLISTED_RUNS} = :n"
            values: dict[str, Any] = {":n": {"N": str(runs)}}
        else:
            update, values = f"REMOVE {ACCOUNT_UNLISTED_RUNS}", {}
        self.client.update_item(
            TableName=self.table,
            Key=key_attributes(HEALTH_KEY),
            UpdateExpression=update,
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    def save_cursor(self, cursor: str | None) -> None:
        self.ops.writes += 1
        self.ops.items_written += 1
        if cursor is None:
            self.client.update_item(
                TableName=self.table,
                Key=key_attributes(HEALTH_KEY),
                UpdateExpression="REMOVE live_cursor",
            )
        else:
            self.client.update_item(
                TableName=self.table,
                Key=key_attributes(HEALTH_KEY),
                UpdateExpression="SET live_cursor = :c",
                ExpressionAttributeValues={":c": {"S": cursor}},
            )

    # ---- plumbing -------------------------------------------------------------------------
    def _write_if(self, call: Callable[..., Any], **kwargs: Any) -> bool:
        """One conditional single-item write on the table; False when its condition failed."""
        self.ops.writes += 1
        self.ops.items_written += 1
        try:
            call(TableName=self.table, **kwargs)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _batch_get(self, keys: Iterable[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """The items of these keys that exist (consistent reads, 100 keys per request)."""
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_MAX):
            chunk = [key_attributes(key) for key in unique[start : start + _BATCH_GET_MAX]]
            request: dict[str, Any] = {self.table: {"Keys": chunk, "ConsistentRead": True}}
            attempt = 0
            while request:
                self.ops.reads += 1
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table, []):
                    yield from_attributes(raw)
                request = response.get("UnprocessedKeys") or {}
                attempt = self._backoff(attempt) if request else 0

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
                attempt = self._backoff(attempt) if pending else 0

    def _backoff(self, attempt: int) -> int:
        """Wait before re-sending unprocessed batch items (DynamoDB asks callers to back off)."""
        if attempt >= 8:
            raise StateError("DynamoDB kept returning unprocessed items; giving up for this run")
        self._pause(attempt)
        return attempt + 1

    def _pause(self, attempt: int) -> None:
        self.sleep(min(0.05 * (2**attempt), 2.0))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _cancellation_codes(exc: ClientError) -> list[str]:
    reasons = exc.response.get("CancellationReasons") or []
    return sorted({str((r or {}).get("Code")) for r in reasons if (r or {}).get("Code") != "None"})
