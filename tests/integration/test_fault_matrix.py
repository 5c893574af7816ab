"""The fault matrix: monitor runs over the real simulator and moto server while Bright Data,
DynamoDB, SNS, the Lambda deadline or Slack misbehave. Every case asserts that nothing owed is
lost, nothing is delivered twice, and the state left behind is consistent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from job_alerts import factory
from job_alerts.models import HealthState
from job_alerts.monitor import Monitor
from job_alerts.slack import OncePerMessage, SlackClient, SlackDeliveryError, deliver_sns_event
from job_alerts.state import StateStore
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.slack_sink import SlackSink
from local.stack import LocalStack
from tests.conftest import Configure
from tests.integration.faults import BrokenPublisher, DynamoThrottle, fast_dynamodb_retries
from tests.support import (
    Ledger,
    assert_consistent,
    bad_job,
    failed_job,
    fast_client,
    fast_monitor,
    sim_clock,
)

pytestmark = pytest.mark.integration

COLLECTOR = "c_matrix"
# Only the job_failed and success-rate rules speak: expectations stay exact.
ENV = {"MAX_FAILS": "100", "MIN_LINES": "0", "MIN_SUCCESS_RATE": "0.9"}
LAMBDA_MS = 240_000  # what a fresh Lambda invocation has left; leases follow it


def lambda_time() -> int:
    return LAMBDA_MS


World = tuple[BrightDataSimulator, LocalStack, ManualClock, Ledger]


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    configure(**ENV)
    simulator.add_collector(COLLECTOR, "matrix-products")
    return simulator, stack, sim_clock(simulator), Ledger(stack)


def until_quiet(
    world: World, build: Callable[[], Monitor] | None = None, *, max_runs: int = 6
) -> int:
    """Runs fault-free (or with whatever faults remain) until a run delivers nothing and no job
    is live; returns the number of runs."""
    sim, stack, clock, ledger = world
    for n in range(1, max_runs + 1):
        clock.advance(5)
        monitor = build() if build else fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time)
        summary = monitor.run()
        fresh = ledger.collect()
        if not fresh and summary.live_jobs == 0 and summary.health == HealthState.HEALTHY:
            ledger.verify_delivered()
            return n
    raise AssertionError(f"still busy after {max_runs} runs")


def assert_owed_once(ledger: Ledger, failed: list[str]) -> None:
    assert ledger.job_alerts() == {("job_failed", job_id): 1 for job_id in failed}
    assert ledger.kinds("success_rate_below_min") == ["ALARM"]
    assert max(ledger.alert_ids().values(), default=0) == 1


# ---- Bright Data -----------------------------------------------------------------------------

BRIGHT_DATA_FAULTS = {
    # name: (endpoint, kind, times, job, params, api_health alerts expected)
    "5xx_burst_absorbed": ("log", "status", 2, None, {"code": 503}, []),
    "5xx_beyond_retries": ("log", "status", 3, "j_fail1", {"code": 500}, []),
    "read_timeouts": ("log", "stall", 3, "j_fail1", {"seconds": 0.6}, []),
    "connection_resets": ("log", "reset", 4, None, {}, []),
    "429_retry_after": ("log", "rate_limit", 2, None, {"retry_after": 2}, []),
    "429_no_retry_after": ("log", "rate_limit", 5, None, {}, []),
    "malformed_json": ("log", "malformed", 1, "j_fail1", {}, []),
    "wrong_types": ("log", "wrong_type", 2, None, {"fields": {"Fails": "many"}}, []),
    "unknown_status": ("log", "wrong_type", 1, "j_bad1", {"fields": {"Status": "zorp"}}, []),
    "listing_down": (
        "collectors_list",
        "status",
        3,
        None,
        {"code": 502},
        ["DEGRADED", "RECOVERED"],
    ),
}


@pytest.mark.parametrize("case", list(BRIGHT_DATA_FAULTS), ids=list(BRIGHT_DATA_FAULTS))
def test_fault_bright_data_delivers_each_alert_once(world: World, case: str) -> None:
    sim, stack, clock, ledger = world
    endpoint, kind, times, job_id, params, health = BRIGHT_DATA_FAULTS[case]
    # Given a failed job and a low-success job, and the API misbehaving `times` times
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    sim.inject(endpoint, kind, times=times, job_id=job_id, **params)
    sleeps: list[float] = []
    settings = factory.settings()

    def build() -> Monitor:
        client = fast_client(settings.api_url, sleep=sleeps.append)
        return fast_monitor(clock, ledger=ledger, client=client, remaining_ms=lambda_time)

    # When the monitor runs, then keeps running until it has nothing left to say
    build().run()
    ledger.collect()
    until_quiet(world, build)
    # Then each alert arrived exactly once, the health alerts pair up, the state is clean
    assert_owed_once(ledger, ["j_fail1"])
    assert ledger.kinds("api_health") == health
    assert_consistent(stack)
    if case == "429_retry_after":
        assert 2.0 in sleeps  # the client waited what the server asked for


def test_fault_unauthorized_mid_run_keeps_jobs_live_then_recovers(
    world: World, configure: Configure
) -> None:
    sim, stack, clock, ledger = world
    # Given three running jobs the monitor tracks, read one at a time
    configure(MAX_CONCURRENCY="1")
    for n in (1, 2, 3):
        sim.add_job(f"j_fail{n}", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    ledger.collect()
    # When the token is revoked (every call answers 401) while they fail
    for n in (1, 2, 3):
        sim.update_job(
            f"j_fail{n}", status="failed", success=0, fails=10, lines=0, finished=clock.now
        )
    sim.inject("*", "unauthorized", times=None)
    clock.advance(5)
    summary = fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    # Then reading stopped at the second 401: one DEGRADED alert, no job judged on partial data
    assert summary.health == HealthState.TOKEN_REJECTED.value
    assert summary.jobs_read == 0
    assert sum(summary.read_errors.values()) == 2
    ledger.collect()
    assert ledger.kinds("api_health") == ["DEGRADED"]
    assert ledger.job_alerts() == {}
    assert summary.live_jobs == 3
    # When the token works again, Then RECOVERED and every job alert exactly once
    sim.clear_faults()
    until_quiet(world)
    assert ledger.kinds("api_health") == ["DEGRADED", "RECOVERED"]
    assert ledger.job_alerts() == {("job_failed", f"j_fail{n}"): 1 for n in (1, 2, 3)}
    assert_consistent(stack)


def test_fault_expired_job_is_forgotten_without_repeats(world: World) -> None:
    sim, stack, clock, ledger = world
    # Given a running job the monitor tracks
    sim.add_job("j_gone", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    fast_monitor(clock, ledger=ledger).run()
    # When Bright Data answers 404 for it (expired) on every read, over 30 minutes
    sim.remove_job("j_gone")
    expired = []
    for _ in range(3):
        clock.advance(15)
        expired.append(fast_monitor(clock, ledger=ledger).run().jobs_expired)
    # (one 404 may be a glitch: the third, 30 minutes after the first, expires it)
    assert expired == [0, 0, 1]
    # Then it is never read again, and at most one notice mentions it
    sim.reset_counts()
    until_quiet(world)
    assert sim.count("log", job_id="j_gone") == 0
    mentions = [e for e in ledger.entries if "j_gone" in e[2]]
    assert len(mentions) <= 1
    items = assert_consistent(stack)
    [job] = [i for i in items if i["pk"] == "JOB#j_gone"]
    assert job["expired"] is True
    assert "gsi1pk" not in job


def test_fault_counts_going_backwards_alert_once(world: World, configure: Configure) -> None:
    sim, stack, clock, ledger = world
    configure(MAX_FAILS="3", MIN_SUCCESS_RATE="0")
    # Given a running job with 10 failed inputs (breach while running)
    sim.add_job("j_back", COLLECTOR, "running", inputs=100, success=20, fails=10, lines=20)
    fast_monitor(clock, ledger=ledger).run()
    ledger.collect()
    assert ledger.kinds("fails_above_max") == ["ALARM"]
    # When the API later reports fewer failures (5), then the job settles with 5
    sim.update_job("j_back", fails=5)
    clock.advance(5)
    fast_monitor(clock, ledger=ledger).run()
    sim.update_job("j_back", status="done", success=95, lines=95, finished=clock.now)
    until_quiet(world)
    # Then no crash and no second alert: still one ALARM, the job settled
    assert ledger.kinds("fails_above_max") == ["ALARM"]
    items = assert_consistent(stack)
    [job] = [i for i in items if i["pk"] == "JOB#j_back"]
    assert job["settled"] is True


# ---- DynamoDB --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    ["TransactWriteItems", "Query", "BatchWriteItem"],
)
def test_fault_dynamodb_throttle_burst_is_absorbed_by_retries(
    world: World, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    sim, stack, clock, ledger = world
    asked = fast_dynamodb_retries(monkeypatch)
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    # Given the state table throttling the next two calls of one operation
    store = factory.state_store(factory.settings())
    throttle = DynamoThrottle(store.client, operation, times=2)
    # When the monitor runs
    summary = fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    ledger.collect()
    # Then standard retry mode absorbed the burst: the run delivered everything at once
    assert throttle.injected == 2
    assert len(asked) >= 2
    assert summary.alerts_sent == 1
    assert_owed_once(ledger, ["j_fail1"])
    throttle.stop()
    until_quiet(world)
    assert_owed_once(ledger, ["j_fail1"])
    assert_consistent(stack)


def test_fault_dynamodb_persistent_transaction_throttle_defers_to_next_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, stack, clock, ledger = world
    fast_dynamodb_retries(monkeypatch)
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    # Given every transaction throttled (decisions cannot be recorded)
    store = factory.state_store(factory.settings())
    throttle = DynamoThrottle(store.client, "TransactWriteItems")
    # When the monitor runs
    summary = fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    # Then nothing was sent, and the jobs stay live: nothing was decided without a record
    assert ledger.collect() == []
    assert summary.alerts_sent == 0
    assert {r.job_id for r in store.live_jobs()} == {"j_fail1", "j_bad1"}
    assert_consistent(stack)
    # When DynamoDB recovers, Then the next run delivers what was owed, once
    throttle.stop()
    until_quiet(world)
    assert_owed_once(ledger, ["j_fail1"])
    assert_consistent(stack)


@pytest.mark.parametrize("operation", ["GetItem", "BatchWriteItem"])
def test_fault_dynamodb_persistent_throttle_fails_the_run_cleanly(
    world: World, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    sim, stack, clock, ledger = world
    fast_dynamodb_retries(monkeypatch)
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    store = factory.state_store(factory.settings())
    fast_monitor(
        clock, ledger=ledger, store=store, remaining_ms=lambda_time
    ).run()  # jobs discovered, alerted
    ledger.collect()
    clock.advance(5)
    failed_job(sim, "j_fail2", collector=COLLECTOR)
    # Given one DynamoDB operation throttled beyond the retries
    throttle = DynamoThrottle(store.client, operation)
    # When the monitor runs, Then the run fails with the throttling error (Lambda reports it)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    assert throttle.injected >= 5  # every attempt of the standard retry mode was made
    ledger.collect()
    # When DynamoDB recovers, Then the next runs deliver what was owed, nothing twice
    throttle.stop()
    until_quiet(world)
    assert_owed_once(ledger, ["j_fail1", "j_fail2"])
    assert_consistent(stack)


def overtaken_store(clock: ManualClock, ledger: Ledger) -> tuple[StateStore, dict[str, bool]]:
    """A store for run A that, the first time A records an alert, lets a whole run B go first;
    the flag says whether B ran."""
    store = factory.state_store(factory.settings())
    original = store.record_alert
    overtaken = {"done": False}

    def record_after_b(*args: Any, **kwargs: Any) -> None:
        if not overtaken["done"]:
            overtaken["done"] = True
            fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time, run_id="run-b").run()
        original(*args, **kwargs)

    store.record_alert = record_after_b  # type: ignore[method-assign]
    return store, overtaken


def test_fault_concurrent_run_wins_every_claim(world: World) -> None:
    sim, stack, clock, ledger = world
    for n in range(3):
        failed_job(sim, f"j_fail{n}", collector=COLLECTOR)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    # Given run A, which is overtaken by a whole run B just before it records its decisions
    store_a, overtaken = overtaken_store(clock, ledger)
    # When A goes on after B finished
    summary_a = fast_monitor(
        clock, ledger=ledger, store=store_a, remaining_ms=lambda_time, run_id="run-a"
    ).run()
    ledger.collect()
    # Then A lost every claim, re-planned, and sent nothing B had sent
    assert overtaken["done"]
    assert summary_a.alerts_sent == 0
    until_quiet(world)
    assert_owed_once(ledger, ["j_fail0", "j_fail1", "j_fail2"])
    assert_consistent(stack)


def test_fault_concurrent_health_transition_is_recorded_once(world: World) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    sim.inject("*", "unauthorized", times=None)
    # Given run A overtaken by run B while both record "token rejected"
    store_a, overtaken = overtaken_store(clock, ledger)
    # When A goes on, Then it does not fail, and only one DEGRADED alert exists
    summary_a = fast_monitor(
        clock, ledger=ledger, store=store_a, remaining_ms=lambda_time, run_id="run-a"
    ).run()
    assert summary_a.health == HealthState.TOKEN_REJECTED.value
    ledger.collect()
    assert ledger.kinds("api_health") == ["DEGRADED"]
    sim.clear_faults()
    until_quiet(world)
    assert ledger.kinds("api_health") == ["DEGRADED", "RECOVERED"]
    assert ledger.job_alerts() == {("job_failed", "j_fail1"): 1}
    assert_consistent(stack)


# ---- SNS and the Lambda deadline --------------------------------------------------------------


def test_fault_sns_outage_delivers_next_run_once(world: World) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    # Given SNS failing for a whole run
    broken = BrokenPublisher()
    summary = fast_monitor(clock, ledger=ledger, publisher=broken, remaining_ms=lambda_time).run()
    assert broken.attempts == 1
    assert summary.alerts_failed == 1
    assert ledger.collect() == []
    assert_consistent(stack, outbox_empty=False)
    # When SNS is back, Then the owed alert goes out once and the outbox drains
    until_quiet(world)
    assert_owed_once(ledger, ["j_fail1"])
    assert_consistent(stack)


def test_fault_deadline_mid_run_leaves_the_rest_for_later(
    world: World, configure: Configure
) -> None:
    sim, stack, clock, ledger = world
    configure(MAX_CONCURRENCY="2")
    failed = [f"j_fail{n}" for n in range(8)]
    for job_id in failed:
        failed_job(sim, job_id, collector=COLLECTOR)
    checks = {"n": 0}

    def closing_in() -> int:
        # Each check is a step closer to the deadline: room for a few reads only.
        checks["n"] += 1
        return LAMBDA_MS if checks["n"] <= 3 else 5_000

    # When the first run reaches the deadline part-way through its reads
    summary = fast_monitor(clock, ledger=ledger, remaining_ms=closing_in).run()
    ledger.collect()
    assert 0 < summary.jobs_read < len(failed)
    assert summary.jobs_deferred == len(failed) - summary.jobs_read
    assert_consistent(stack)
    # Then later runs deliver the rest, and no job is alerted twice
    until_quiet(world)
    assert ledger.job_alerts() == {("job_failed", job_id): 1 for job_id in failed}
    assert_consistent(stack)


# ---- Slack ------------------------------------------------------------------------------------


SLACK_FAULTS: dict[str, tuple[Callable[[SlackSink], None], bool]] = {
    # name: (fault, whether the first delivery raises)
    "429_then_ok": (lambda sink: sink.rate_limit(times=1, retry_after=0), False),
    "5xx_burst_then_ok": (lambda sink: sink.fail(times=1), False),
    "5xx_beyond_retries": (lambda sink: sink.fail(times=2), True),
    "timeouts": (lambda sink: sink.stall(seconds=0.5, times=2), True),
}


def test_fault_slack_errors_propagate_and_retry_posts_once(
    world: World, lambda_context: Any
) -> None:
    sim, stack, clock, ledger = world
    # Given an alert the monitor published, as the Slack notifier receives it
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    [record] = stack.lambda_records("slack")
    once = OncePerMessage(stack.table_name, dynamodb_client=stack.client("dynamodb"))
    once.register_lambda_context(lambda_context)
    client = SlackClient(backoff_base=0.01, max_attempts=2, read_timeout=0.3, budget_seconds=5)
    for case, (fault, raises) in SLACK_FAULTS.items():
        # (each case as its own SNS message, so the idempotency records stay apart)
        sns = {**record["Sns"], "MessageId": f"{record['Sns']['MessageId']}-{case}"}
        records = [{**record, "Sns": sns}]
        with SlackSink() as sink:
            fault(sink)
            # When the notifier handles the event (and Lambda retries it when it raised)
            if raises:
                with pytest.raises(SlackDeliveryError) as caught:
                    deliver_sns_event(records, sink.url, client=client, once=once)
                assert sink.path not in str(caught.value), case
            first = deliver_sns_event(records, sink.url, client=client, once=once)
            # And SNS redelivers the same message once more
            again = deliver_sns_event(records, sink.url, client=client, once=once)
            # Then it was posted by exactly one successful delivery, never by a redelivery
            assert (first.posted, again.duplicates) == ((sns["MessageId"],), (sns["MessageId"],))
            accepted = [r for r in sink.requests if r.status == 200]
            if case == "timeouts":
                # A timed-out post is ambiguous (Slack may have taken it after we gave up);
                # what matters is that the error surfaced and the retry delivered.
                assert len(accepted) >= 1, case
            else:
                assert len(accepted) == 1, case
            assert "j_fail1" in json.dumps(sink.posts[-1])


def test_fault_slack_permanent_failure_raises_every_time(world: World, lambda_context: Any) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    records = stack.lambda_records("slack")
    once = OncePerMessage(stack.table_name, dynamodb_client=stack.client("dynamodb"))
    once.register_lambda_context(lambda_context)
    with SlackSink() as sink:
        revoked = sink.url.rsplit("/", 1)[0] + "/revoked"
        # When the webhook is revoked, Then each attempt raises at once (Lambda → DLQ)
        for _ in range(2):
            with pytest.raises(SlackDeliveryError, match="404") as caught:
                deliver_sns_event(records, revoked, client=SlackClient(), once=once)
            assert "revoked" not in str(caught.value)
        assert len(sink.requests) == 2
        assert sink.posts == []
