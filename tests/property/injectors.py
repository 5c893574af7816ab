"""Fault injectors of the property test, each wrapping one real collaborator of a run: the run
itself (cut off at its k-th call, paused at its k-th store call, stopped at its Lambda
deadline), the boto3 DynamoDB client the StateStore uses (cancelled transactions with each
cancellation reason, a rival run winning a claim, throttling), and the boto3 SNS client the real
AlertPublisher uses (refused, throttled, or accepted with the answer lost). What SNS accepted is
kept in the Ledger, which also judges every re-publish of an alert id as it happens."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

from job_alerts.alerts import AlertKind, from_document, render_subject, to_document
from job_alerts.models import AlertRecord, AlertStatus
from job_alerts.state.items import alert_item, from_attributes, outbox_item, to_attributes

# A run's Lambda stops it here: nothing after the cut runs (BaseException, as a timeout is: no
# `except Exception` in the product may swallow it).
PAUSE_TIMEOUT_SECONDS = 60


class LambdaTimeout(BaseException):
    """The Lambda running the monitor was stopped: its deadline, or a cut the test chose."""


# ---- the run -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cut:
    """Stop the run at its `at`-th call of `where` (store: a DynamoDB request; transaction: a
    DynamoDB transaction, i.e. recording an alert or marking one sent; publisher: an SNS
    publish; api: a Bright Data call; any: whichever comes), before that call is made."""

    where: str
    at: int

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        return f"Cut(before {self.where} call #{self.at})"


@dataclass
class Pause:
    """Hold a run before its `at`-th DynamoDB request (or transaction) until released."""

    at: int
    on: str = "store"  # store | transaction
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class RunContext:
    """One monitor run as its collaborators see it: which call it is at, its deadline, its cut
    or pause, and whether it was stopped (then every later call is refused too)."""

    def __init__(
        self,
        run_id: str,
        clock: Callable[[], datetime],
        deadline: datetime,
        *,
        cut: Cut | None = None,
        pause: Pause | None = None,
    ) -> None:
        self.run_id = run_id
        self.clock = clock
        self.deadline = deadline
        self.cut = cut
        self.pause = pause
        self.calls: Counter[str] = Counter()
        self.stopped: str | None = None
        self._lock = threading.Lock()

    def remaining_ms(self) -> int:
        return max(0, int((self.deadline - self.clock()).total_seconds() * 1000))

    def before(self, kind: str, name: str) -> None:
        """Count the call; stop the run here if it is cut here or its deadline passed."""
        with self._lock:
            if self.stopped is not None:
                raise LambdaTimeout(f"run {self.run_id} already stopped ({self.stopped})")
            self.calls[kind] += 1
            self.calls["any"] += 1
            if name == "transact_write_items":
                self.calls["transaction"] += 1
            if self.clock() >= self.deadline:
                self.stopped = f"deadline reached before {kind} {name}"
            elif (
                self.cut
                and self.calls[self.cut.where] == self.cut.at
                and (self.cut.where != "transaction" or name == "transact_write_items")
            ):
                self.stopped = f"cut before {kind} {name}"
            if self.stopped is not None:
                raise LambdaTimeout(self.stopped)
            pause = self.pause
            hold = (
                pause is not None
                and kind == "store"
                and self.calls[pause.on] == pause.at
                and (pause.on != "transaction" or name == "transact_write_items")
            )
        if hold and self.pause is not None:
            self.pause.reached.set()
            if not self.pause.release.wait(PAUSE_TIMEOUT_SECONDS):
                raise AssertionError("the paused run was never released")


# ---- DynamoDB ----------------------------------------------------------------------------------
DATA_OPERATIONS = frozenset(
    {
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "scan",
        "batch_get_item",
        "batch_write_item",
        "transact_write_items",
    }
)
CANCEL_REASONS = ("TransactionConflict", "ThrottlingError", "ValidationError")
_REASON_MESSAGES = {
    "TransactionConflict": "Transaction is ongoing for the item",
    "ThrottlingError": "Throughput exceeds the current capacity for one or more global "
    "secondary indexes. DynamoDB is automatically scaling your index.",
    "ValidationError": "Item size has exceeded the maximum allowed size",
    "ConditionalCheckFailed": "The conditional request failed",
}
# How long a rival run holds what it recorded before another run may publish it (its Lambda).
RIVAL_LEASE = timedelta(minutes=6)


@dataclass(frozen=True)
class DynamoFault:
    """A way DynamoDB refuses a request.

    cancel: a transaction (`which`: one storing an alert, marking one sent, claiming a rerun, or
      any) is cancelled before anything is written, the item at `pick` carrying `reason`.
    rival: a transaction storing an alert loses to a rival run that recorded first, in its own
      transaction, the claim at `pick` (or, `whole`, this very alert) and died before publishing;
      the product's transaction then goes to DynamoDB and is refused for real
      (ConditionalCheckFailed on exactly the claims the rival made).
    throttle: `op` (any data operation) answers ProvisionedThroughputExceededException.
    """

    kind: str
    lasting: bool
    times: int = 1
    reason: str = ""
    which: str = "any"
    pick: int = 0
    whole: bool = False
    op: str = "transact_write_items"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        span = "until cleared" if self.lasting else f"x{self.times}"
        if self.kind == "cancel":
            what = f"cancel {self.which} transaction: {self.reason} on item {self.pick}"
        elif self.kind == "rival":
            what = (
                "rival records this alert first"
                if self.whole
                else (f"rival wins claim {self.pick}")
            )
        else:
            what = f"throttle {self.op}"
        return f"DynamoFault({what} {span})"


@dataclass
class _Armed:
    fault: DynamoFault
    left: int | None


def _transaction_kind(items: list[dict[str, Any]]) -> str:
    for entry in items:
        ((verb, body),) = entry.items()
        key = body.get("Item") or body.get("Key") or {}
        pk = key.get("pk", {}).get("S", "")
        values = body.get("ExpressionAttributeValues") or {}
        if verb == "Put" and pk.startswith("ALERT#"):
            return "alert"
        if verb == "Update" and pk.startswith("ALERT#") and ":sent" in values:
            return "sent"
        if verb == "Update" and pk.startswith("RERUNS#"):
            return "rerun"
    return "other"


def sent_alert_id(items: list[dict[str, Any]]) -> str | None:
    """The alert a mark-sent transaction marks, if it is one."""
    if _transaction_kind(items) != "sent":
        return None
    for entry in items:
        body = entry.get("Update")
        if body and ":sent" in (body.get("ExpressionAttributeValues") or {}):
            return str(body["Key"]["pk"]["S"]).removeprefix("ALERT#")
    return None


def _client_error(code: str, message: str, operation: str, **extra: Any) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
        **extra,
    }
    if "CancellationReasons" in extra:
        response["Message"] = message
    return ClientError(response, operation)


def cancelled(items: list[dict[str, Any]], pick: int, reason: str) -> ClientError:
    """TransactionCanceledException as DynamoDB words it: one reason per item, 'None' for the
    items that did not fail."""
    at = pick % len(items)
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in items]
    reasons[at] = {"Code": reason, "Message": _REASON_MESSAGES[reason]}
    listed = ", ".join(r["Code"] for r in reasons)
    message = (
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{listed}]"
    )
    return _client_error(
        "TransactionCanceledException", message, "TransactWriteItems", CancellationReasons=reasons
    )


def throttled(operation: str) -> ClientError:
    name = "".join(part.capitalize() for part in operation.split("_"))
    return _client_error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider "
        "increasing your provisioning level with the UpdateTable API.",
        name,
    )


class DynamoFaults:
    """The DynamoDB faults in force, shared by every run's client."""

    def __init__(self) -> None:
        self.armed: list[_Armed] = []
        self.rivals = 0
        self.fired: Counter[str] = Counter()
        self._lock = threading.Lock()

    def inject(self, fault: DynamoFault) -> None:
        with self._lock:
            self.armed.append(_Armed(fault, None if fault.lasting else fault.times))

    def clear(self) -> None:
        with self._lock:
            self.armed.clear()

    def take(self, operation: str, kwargs: dict[str, Any]) -> DynamoFault | None:
        with self._lock:
            for armed in self.armed:
                if armed.left == 0 or not self._applies(armed.fault, operation, kwargs):
                    continue
                if armed.left is not None:
                    armed.left -= 1
                fault = armed.fault
                what = fault.reason if fault.kind == "cancel" else fault.op
                self.fired[f"{fault.kind} {what if fault.kind != 'rival' else ''}".strip()] += 1
                return fault
        return None

    @staticmethod
    def _applies(fault: DynamoFault, operation: str, kwargs: dict[str, Any]) -> bool:
        if fault.kind == "throttle":
            return fault.op == operation
        if operation != "transact_write_items":
            return False
        kind = _transaction_kind(kwargs["TransactItems"])
        if fault.kind == "rival":
            return kind == "alert"
        return fault.which in ("any", kind)


def _claim_entry(doc: dict[str, Any], item: dict[str, Any]) -> dict[str, Any] | None:
    """The one entry of an alert document that a claim item of its transaction records."""
    pk, sk = str(item.get("pk", "")), str(item.get("sk", ""))
    entries = doc["entries"]
    if pk.startswith("JOB#") and sk.startswith("ALERTED#"):
        job_id, rule = pk.removeprefix("JOB#"), sk.removeprefix("ALERTED#")
        if rule == "job_readable_again":
            kind, rule = AlertKind.RESOLVED.value, "job_unreadable"
        else:
            kind = AlertKind.JOB.value
        found = [
            e for e in entries if e["kind"] == kind and e["rule"] == rule and job_id in e["job_ids"]
        ]
    elif pk.startswith("COLLECTOR#") and sk.startswith("RULE#"):
        found = [e for e in entries if e["rule"] == sk.removeprefix("RULE#")]
    elif pk == "MONITOR":
        found = [e for e in entries if e["rule"] == "api_health"]
    else:
        found = []
    return found[0] if len(found) == 1 else None


def rival_transaction(
    items: list[dict[str, Any]], pick: int, whole: bool, now: datetime
) -> list[dict[str, Any]] | None:
    """What a rival run that recorded first wrote: this alert itself (`whole`), or one of its
    claims with an alert of its own telling only that claim's entry, leased to the rival."""
    ops = [dict(entry) for entry in items]
    puts = [(i, from_attributes(e["Put"]["Item"])) for i, e in enumerate(ops) if "Put" in e]
    alert_at = next(i for i, item in puts if str(item["pk"]).startswith("ALERT#"))
    outbox = [i for i, item in puts if item["pk"] == "OUTBOX"]
    alert = from_attributes(ops[alert_at]["Put"]["Item"])
    doc = json.loads(alert["document"])
    if whole:
        chosen = [i for i, _ in enumerate(ops) if i not in outbox]
        rival_doc = doc
    else:
        claims = [
            (i, entry)
            for i, item in puts
            if i != alert_at and i not in outbox and (entry := _claim_entry(doc, item)) is not None
        ]
        if not claims:
            return None
        at, entry = claims[pick % len(claims)]
        original = from_document(doc)
        told = [e for e in original.entries if e.rule == entry["rule"] and e.kind == entry["kind"]]
        told = [e for e in told if list(e.job_ids) == entry["job_ids"]][:1]
        rival = replace(
            original,
            alert_id=f"{original.alert_id}-rival",
            entries=tuple(told),
            jobs=tuple(j for j in original.jobs if j.job_id in entry["job_ids"]),
            affected_jobs=max(1, len(entry["job_ids"])),
        )
        rival_doc = to_document(rival)
        chosen = [at]
    record = AlertRecord(
        alert_id=rival_doc["alert_id"],
        status=AlertStatus(alert["status"]),
        created_at=now,
        collector_id=alert.get("collector_id"),
        severity=rival_doc["severity"],
        subject=render_subject(rival_doc),
        document=rival_doc,
        suppressed_reason=alert.get("suppressed_reason"),
    )
    days = max(1, round((int(alert["ttl"]) - now.timestamp()) / 86400))
    table = ops[alert_at]["Put"]["TableName"]
    written = [ops[i] for i in chosen if i != alert_at]
    new_alert = alert_item(record, days)
    written.append({"Put": {"TableName": table, "Item": to_attributes(new_alert)}})
    if outbox:
        entry_item = outbox_item(
            record, owner="rival", lease_until=now + RIVAL_LEASE, ttl=new_alert["ttl"]
        )
        written.append({"Put": {"TableName": table, "Item": to_attributes(entry_item)}})
    return written


class FaultyDynamo:
    """The boto3 DynamoDB client of one run's StateStore: every data operation first asks the
    run (cut, pause, deadline), then the faults in force; an injected error is raised before
    the request is sent, so nothing is written."""

    def __init__(
        self,
        inner: Any,
        faults: DynamoFaults,
        run: RunContext,
        *,
        on_sent: Callable[[str], None],
        on_unmarked: Callable[[str], None],
    ) -> None:
        self._inner = inner
        self._faults = faults
        self._run = run
        self._on_sent = on_sent
        self._on_unmarked = on_unmarked

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in DATA_OPERATIONS:
            return target

        def call(**kwargs: Any) -> Any:
            self._run.before("store", name)
            marks = None
            if name == "transact_write_items":
                marks = sent_alert_id(kwargs["TransactItems"])
            try:
                fault = self._faults.take(name, kwargs)
                if fault is not None:
                    self._spoil(fault, name, kwargs)
                result = target(**kwargs)
            except ClientError:
                if marks is not None:
                    self._on_unmarked(marks)  # the run knows it could not mark it sent
                raise
            if marks is not None:
                self._on_sent(marks)
            return result

        return call

    def _spoil(self, fault: DynamoFault, operation: str, kwargs: dict[str, Any]) -> None:
        if fault.kind == "throttle":
            raise throttled(operation)
        items = kwargs["TransactItems"]
        if fault.kind == "cancel":
            raise cancelled(items, fault.pick, fault.reason)
        written = rival_transaction(items, fault.pick, fault.whole, self._run.clock())
        if written is None:
            return
        try:
            self._inner.transact_write_items(TransactItems=written)
        except ClientError:
            return  # the rival lost its own race (what it claimed was taken): it wrote nothing
        self._faults.rivals += 1


# ---- SNS ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnsFault:
    """refused: SNS answers an error, nothing is sent; throttled: the same as Throttling;
    lost_ack: SNS takes the message but the answer never arrives (a read timeout)."""

    kind: str
    lasting: bool
    times: int = 1

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints steps with this: keep them one line

    def __repr__(self) -> str:
        span = "until cleared" if self.lasting else f"x{self.times}"
        return f"SnsFault({self.kind} {span})"


@dataclass
class Published:
    alert_id: str
    doc: dict[str, Any]
    run_id: str
    at: datetime


class Ledger:
    """Every message SNS accepted, and how each alert id fared: published and confirmed (its
    mark-sent committed), or in flight (published by a run that has not confirmed it). A second
    publish of an id is a redelivery the README allows only when no earlier publish of it was
    confirmed and none is in flight; anything else is recorded as a violation."""

    def __init__(self) -> None:
        self.messages: list[Published] = []
        self.confirmed: set[str] = set()
        self.in_flight: dict[str, str] = {}
        self.redeliveries: Counter[str] = Counter()
        self.violations: list[str] = []
        self._lock = threading.Lock()

    def accepted(self, doc: dict[str, Any], run_id: str, at: datetime) -> None:
        alert_id = str(doc["alert_id"])
        with self._lock:
            if alert_id in self.confirmed:
                self.violations.append(
                    f"{alert_id} published again by {run_id} after it was marked sent"
                )
            elif alert_id in self.in_flight:
                self.violations.append(
                    f"{alert_id} published by {run_id} while {self.in_flight[alert_id]}'s "
                    "publish of it was still unconfirmed (two publishes at once)"
                )
            elif any(m.alert_id == alert_id for m in self.messages):
                self.redeliveries[alert_id] += 1
            self.in_flight[alert_id] = run_id
            self.messages.append(Published(alert_id, doc, run_id, at))

    def lost(self, alert_id: str) -> None:
        """The run was told the publish failed, or could not mark it sent: it will not
        confirm this publish."""
        with self._lock:
            self.in_flight.pop(alert_id, None)

    def sent(self, alert_id: str) -> None:
        with self._lock:
            self.confirmed.add(alert_id)
            self.in_flight.pop(alert_id, None)

    def run_over(self, run_id: str) -> None:
        with self._lock:
            for alert_id in [a for a, r in self.in_flight.items() if r == run_id]:
                del self.in_flight[alert_id]

    def published_ids(self) -> set[str]:
        return {m.alert_id for m in self.messages}

    def documents(self) -> dict[str, dict[str, Any]]:
        """Each published alert id's document (the first copy)."""
        docs: dict[str, dict[str, Any]] = {}
        for message in self.messages:
            docs.setdefault(message.alert_id, message.doc)
        return docs


class SnsFaults:
    def __init__(self) -> None:
        self.armed: list[list[Any]] = []
        self.fired: Counter[str] = Counter()
        self._lock = threading.Lock()

    def inject(self, fault: SnsFault) -> None:
        with self._lock:
            self.armed.append([fault, None if fault.lasting else fault.times])

    def clear(self) -> None:
        with self._lock:
            self.armed.clear()

    def take(self) -> SnsFault | None:
        with self._lock:
            for armed in self.armed:
                if armed[1] == 0:
                    continue
                if armed[1] is not None:
                    armed[1] -= 1
                fault: SnsFault = armed[0]
                self.fired[fault.kind] += 1
                return fault
        return None


class FaultySns:
    """The boto3 SNS client of one run's AlertPublisher."""

    def __init__(self, inner: Any, faults: SnsFaults, run: RunContext, ledger: Ledger) -> None:
        self._inner = inner
        self._faults = faults
        self._run = run
        self._ledger = ledger

    def publish(self, **request: Any) -> dict[str, Any]:
        self._run.before("publisher", "publish")
        fault = self._faults.take()
        if fault is not None and fault.kind in ("refused", "throttled"):
            code = "InternalError" if fault.kind == "refused" else "Throttling"
            raise _client_error(code, "SNS could not take the message", "Publish")
        response: dict[str, Any] = self._inner.publish(**request)
        doc = json.loads(json.loads(request["Message"])["default"])
        self._ledger.accepted(doc, self._run.run_id, self._run.clock())
        if fault is not None:
            self._ledger.lost(str(doc["alert_id"]))
            raise ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com/")
        return response
