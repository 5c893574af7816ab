"""Shared helpers of the fault, hostile-input, secrets and soak tests: a DynamoDB throttle
injector (botocore event hook), flaky publishers, a fast Bright Data client, a ledger of what
the topic delivered, and the consistency check every scenario ends with."""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import standard

from job_alerts import factory
from job_alerts.brightdata import BrightDataClient
from job_alerts.monitor import Monitor
from job_alerts.state import OUTBOX, StateStore
from local.clock import ManualClock
from local.stack import LocalStack
from tests.conftest import SIM_TOKEN
from tests.integration.test_monitor_scenarios import delivered, sim_clock

__all__ = [
    "BrokenPublisher",
    "DynamoThrottle",
    "FlakyPublisher",
    "Ledger",
    "assert_consistent",
    "fast_client",
    "fast_dynamodb_retries",
    "make_monitor",
    "scan",
    "sim_clock",
]

THROTTLE_CODE = "ProvisionedThroughputExceededException"


class _Body:
    """The raw stream AWSResponse reads its content from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._data


class DynamoThrottle:
    """Answers DynamoDB calls of one operation with a throttling error instead of sending them.

    It hooks `before-send`, which botocore emits inside its retry loop, so the client's retry
    mode sees each injected error like a real one (`before-call` would short-circuit the call
    before any retry logic runs). `times` limits how many calls are throttled (None: all);
    `skip` lets that many calls through first."""

    def __init__(
        self,
        client: Any,
        operation: str,
        *,
        times: int | None = None,
        skip: int = 0,
        code: str = THROTTLE_CODE,
    ) -> None:
        self.client = client
        self.event = f"before-send.dynamodb.{operation}"
        self.remaining = times
        self.skip = skip
        self.code = code
        self.calls = 0
        self.injected = 0
        self._lock = threading.Lock()
        client.meta.events.register(self.event, self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.calls += 1
            if self.skip > 0:
                self.skip -= 1
                return None
            if self.remaining is not None:
                if self.remaining <= 0:
                    return None
                self.remaining -= 1
            self.injected += 1
        body = json.dumps(
            {
                "__type": f"com.amazonaws.dynamodb.v20120810#{self.code}",
                "message": "The level of configured provisioned throughput was exceeded",
            }
        ).encode()
        headers = {
            "content-type": "application/x-amz-json-1.0",
            "x-amzn-requestid": f"throttle-{self.injected}",
            "content-length": str(len(body)),
        }
        return AWSResponse(request.url, 400, headers, _Body(body))

    def stop(self) -> None:
        self.client.meta.events.unregister(self.event, self._answer)


def fast_dynamodb_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Keep botocore's standard retry mode (attempt counting, quota, throttling detection) but
    make its backoff sleeps tiny; returns the list of delays it asked for."""
    asked: list[float] = []
    original = standard.ExponentialBackoff.delay_amount

    def tiny(self: standard.ExponentialBackoff, context: Any) -> float:
        asked.append(original(self, context))
        return 0.001

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", tiny)
    return asked


def fast_client(url: str, token: str = SIM_TOKEN, **options: Any) -> BrightDataClient:
    """A Bright Data client with test-sized timeouts and backoff (a real one, over HTTP)."""
    settings: dict[str, Any] = {
        "connect_timeout": 0.5,
        "read_timeout": 0.3,
        "max_attempts": 3,
        "call_budget_seconds": 3,
        "backoff_base": 0.01,
        "backoff_jitter": 0.0,
        "backoff_max": 0.05,
    }
    return BrightDataClient(url, token, **{**settings, **options})


def make_monitor(
    clock: ManualClock,
    *,
    client: Any = None,
    publisher: Any = None,
    remaining_ms: Callable[[], int] | None = None,
    store: StateStore | None = None,
    run_id: str | None = None,
    ledger: Ledger | None = None,
) -> Monitor:
    """A monitor built from the current environment, with any collaborator replaced; what it
    publishes is recorded in `ledger` when one is given."""
    cfg = factory.settings()
    sender = publisher if publisher is not None else factory.publisher(cfg)
    return Monitor(
        cfg,
        client if client is not None else fast_client(cfg.api_url, cfg.api_token or ""),
        store if store is not None else factory.state_store(cfg),
        ledger.recording(sender) if ledger is not None else sender,
        factory.thresholds_resolver(cfg),
        clock=clock,
        remaining_ms=remaining_ms,
        run_id=run_id,
    )


class BrokenPublisher:
    """SNS as seen during an outage: every publish fails."""

    def __init__(self) -> None:
        self.attempts = 0

    def publish(self, doc: dict[str, Any]) -> str:
        self.attempts += 1
        raise RuntimeError("SNS is unavailable")


@dataclass
class FlakyPublisher:
    """Wraps the real publisher; `should_fail()` decides per call whether SNS 'fails'."""

    inner: Any
    should_fail: Callable[[], bool]
    failures: int = 0

    def publish(self, doc: dict[str, Any]) -> str:
        if self.should_fail():
            self.failures += 1
            raise RuntimeError("simulated SNS failure")
        return str(self.inner.publish(doc))


@dataclass
class Ledger:
    """Every alert SNS accepted, across runs, recorded at the publisher (draining the
    subscription queue after every run would cost more than the runs); `verify_delivered`
    then checks once that the topic's subscriber received exactly these messages."""

    stack: LocalStack
    messages: list[dict[str, Any]] = field(default_factory=list)
    _seen: int = 0

    def recording(self, inner: Any) -> _RecordingPublisher:
        return _RecordingPublisher(inner, self)

    def collect(self) -> list[dict[str, Any]]:
        """The messages published since the last call."""
        fresh = self.messages[self._seen :]
        self._seen = len(self.messages)
        return fresh

    def verify_delivered(self) -> None:
        received = Counter(m["doc"]["alert_id"] for m in delivered(self.stack))
        assert received == self.alert_ids()

    @property
    def entries(self) -> list[tuple[str, str, tuple[str, ...]]]:
        return [
            (e["kind"], e["rule"], tuple(e.get("job_ids") or ()))
            for m in self.messages
            for e in m["doc"]["entries"]
        ]

    def job_alerts(self) -> Counter[tuple[str, str]]:
        """(rule, job id) of every JOB entry: each must appear exactly once."""
        return Counter((rule, ids[0]) for kind, rule, ids in self.entries if kind == "JOB")

    def kinds(self, rule: str) -> list[str]:
        return [kind for kind, r, _ in self.entries if r == rule]

    def alert_ids(self) -> Counter[str]:
        return Counter(m["doc"]["alert_id"] for m in self.messages)


@dataclass
class _RecordingPublisher:
    inner: Any
    ledger: Ledger

    def publish(self, doc: dict[str, Any]) -> str:
        message_id = str(self.inner.publish(doc))
        self.ledger.messages.append({"doc": json.loads(json.dumps(doc)), "id": message_id})
        return message_id


def scan(stack: LocalStack) -> list[dict[str, Any]]:
    """Every item of the state table, deserialized (tests may Scan; the app never does)."""
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    ddb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": stack.table_name, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items.extend({k: des.deserialize(v) for k, v in raw.items()} for raw in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_consistent(stack: LocalStack, *, outbox_empty: bool = True) -> list[dict[str, Any]]:
    """The invariants a finished run must leave, whatever failed on the way:
    - no outbox entry is left (when the world has recovered) and no alert is still PENDING;
    - every job that left LIVE carries its decisions: a settled failed job has its
      job_failed claim, and every rule in a job's `alerted` cache has its claim item;
    - a job in LIVE is exactly one neither settled nor expired.
    Returns the scanned items for further checks."""
    items = scan(stack)
    keys = {(i["pk"], i["sk"]) for i in items}
    problems: list[str] = []
    outbox = [i for i in items if i["pk"] == OUTBOX]
    pending = [i["alert_id"] for i in items if i["sk"] == "ALERT" and i["status"] == "PENDING"]
    if outbox_empty and (outbox or pending):
        problems.append(f"outbox not drained: {len(outbox)} entries, pending alerts {pending}")
    for job in (i for i in items if i["sk"] == "JOB"):
        pk = job["pk"]
        live = job.get("gsi1pk") == "LIVE"
        if live == (bool(job["settled"]) or bool(job["expired"])):
            problems.append(f"{pk}: LIVE={live} but settled={job['settled']}")
        failed = job["settled"] and job.get("status") == "failed"
        if failed and (pk, "ALERTED#job_failed") not in keys:
            problems.append(f"{pk}: settled as failed without its job_failed claim")
        for rule in json.loads(job.get("alerted", "[]")):
            if (pk, f"ALERTED#{rule}") not in keys:
                problems.append(f"{pk}: alerted {rule} without the claim item")
    assert not problems, "\n".join(problems)
    return items


def alternates(sequence: list[str]) -> bool:
    """True when no kind follows itself (ALARM, RESOLVED, ALARM...)."""
    return all(a != b for a, b in itertools.pairwise(sequence))


def drain_log(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def as_text(value: Any) -> str:
    """A JSON rendering for "does this secret appear anywhere" checks."""
    buffer = io.StringIO()
    json.dump(value, buffer, default=str)
    return buffer.getvalue()
