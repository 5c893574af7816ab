"""Helpers shared by tests that are not fixtures: the test clocks, jobs on the simulator, the
monitor builders and the Lambda functions, readers of what the topic delivered and of what the
table holds, alerts for the renderers, and the texts a secret could leak through. Fault
injectors live in tests/integration/faults.py."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from job_alerts import factory
from job_alerts.alerts import Alert, AlertEntry, JobFacts
from job_alerts.brightdata import BrightDataClient
from job_alerts.monitor import Monitor
from job_alerts.service import build_monitor
from job_alerts.state import OUTBOX, StateStore
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import ROOT, SIM_TOKEN, T0

# The collector of the monitor scenarios; the job builders put jobs there unless told otherwise.
COLLECTOR = "c_amazon"
World = tuple[BrightDataSimulator, LocalStack, ManualClock]


# ---- clocks ------------------------------------------------------------------------------------
def sim_clock(sim: BrightDataSimulator, start: datetime = T0) -> ManualClock:
    """The clock the simulator shares with the monitor and the test, moved to `start`."""
    sim.set_time(start)
    assert isinstance(sim.clock, ManualClock)
    return sim.clock


class FakeTime:
    """A monotonic clock and sleep for retry and backoff code: the clock moves only when the code
    under test sleeps, and every sleep is remembered."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ---- jobs on the simulator ---------------------------------------------------------------------
def collector_world(sim: BrightDataSimulator, stack: LocalStack) -> World:
    """The simulator with COLLECTOR on it, the stack, and the shared clock at T0."""
    sim.add_collector(COLLECTOR, "amazon-products")
    return sim, stack, sim_clock(sim)


def good_job(sim: BrightDataSimulator, job_id: str, collector: str = COLLECTOR) -> None:
    sim.add_job(job_id, collector, "done", inputs=100, success=100, fails=0, lines=100)


def bad_job(
    sim: BrightDataSimulator, job_id: str, success: int = 40, collector: str = COLLECTOR
) -> None:
    """A done job whose success rate (`success` of 100) is below the default minimum."""
    sim.add_job(
        job_id, collector, "done", inputs=100, success=success, fails=100 - success, lines=success
    )


def failed_job(sim: BrightDataSimulator, job_id: str, collector: str = COLLECTOR) -> None:
    sim.add_job(job_id, collector, "failed", inputs=10, success=0, fails=10, lines=0)


# ---- monitors ----------------------------------------------------------------------------------
def make_monitor(
    clock: ManualClock, remaining_ms: Callable[[], int] | None = None, publisher: Any = None
) -> Monitor:
    """The monitor a handler builds from the installed settings (the production Bright Data
    client included), on the test's clock."""
    return build_monitor(
        factory.settings(), clock=clock, remaining_ms=remaining_ms, publisher=publisher
    )


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


def fast_monitor(
    clock: ManualClock,
    *,
    client: Any = None,
    publisher: Any = None,
    remaining_ms: Callable[[], int] | None = None,
    store: StateStore | None = None,
    run_id: str | None = None,
    ledger: Ledger | None = None,
) -> Monitor:
    """A monitor built from the installed settings with a fast_client and any collaborator
    replaced; what it publishes is recorded in `ledger` when one is given."""
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


def load_function(name: str) -> ModuleType:
    """A fresh copy of functions/<name>/app.py, imported as Lambda imports it: its cached clients
    are new, and patches made to `factory` before the call are what it sees."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app_{uuid.uuid4().hex[:6]}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- what the topic delivered ------------------------------------------------------------------
def delivered(stack: LocalStack, queue: str = "all") -> list[dict[str, Any]]:
    """What the topic delivered since the last call: each as subject, document, attributes."""
    out = []
    for envelope in stack.drain(queue):
        out.append(
            {
                "subject": envelope["Subject"],
                "doc": json.loads(envelope["Message"]),
                "attributes": {
                    k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                },
            }
        )
    return out


def kinds(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, rule) of each entry of a delivered message."""
    return [(e["kind"], e["rule"]) for e in message["doc"]["entries"]]


def alternates(sequence: list[str]) -> bool:
    """True when no kind follows itself (ALARM, RESOLVED, ALARM...)."""
    return all(a != b for a, b in itertools.pairwise(sequence))


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

    def publish(self, doc: Mapping[str, Any]) -> str:
        message_id = str(self.inner.publish(doc))
        self.ledger.messages.append({"doc": json.loads(json.dumps(doc)), "id": message_id})
        return message_id


# ---- what the table holds ----------------------------------------------------------------------
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


# ---- alerts for the renderers -----------------------------------------------------------------
# The collector and creation time of the alerts the renderer tests (and golden files) are made of.
ALERT_COLLECTOR = "c_m9im5n7v82p2y35la"
ALERT_TIME = datetime(2025, 4, 28, 14, 0, 0, tzinfo=UTC)


def make_alert(entries: list[AlertEntry], jobs: list[JobFacts], **changes: Any) -> Alert:
    """An alert about ALERT_COLLECTOR created at ALERT_TIME; `changes` replace any field."""
    fields: dict[str, Any] = {
        "alert_id": f"20250428T140000-{ALERT_COLLECTOR}-abc123def456-0",
        "collector_id": ALERT_COLLECTOR,
        "collector_name": "amazon-products",
        "entries": tuple(entries),
        "jobs": tuple(jobs),
        "affected_jobs": len(jobs),
        "created_at": ALERT_TIME,
    }
    fields.update(changes)
    return Alert(**fields)


# ---- where a secret could leak -----------------------------------------------------------------
def exception_texts(exc: BaseException) -> list[str]:
    """str, repr and args of an exception and of everything chained to or grouped in it: every
    place a secret could leak through an error."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *map(str, current.args)]
        todo += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
    return texts


def as_text(value: Any) -> str:
    """A JSON rendering for "does this secret appear anywhere" checks."""
    buffer = io.StringIO()
    json.dump(value, buffer, default=str)
    return buffer.getvalue()


def closed_port_url() -> str:
    """The URL of a local port nobody listens on (bound once to pick it, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
