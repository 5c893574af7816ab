"""Regression tests of issue 19's "never lost" defects that live in the record and publish
stages, over moto server and the simulator: a transaction DynamoDB cancels for a reason that
claims nothing, and a silence that hid an alarm ending."""

from __future__ import annotations

from datetime import timedelta

import pytest

from job_alerts import factory
from job_alerts.models import Silence
from job_alerts.state import StateStore
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure
from tests.integration.faults import TransactionCanceller
from tests.support import (
    Ledger,
    assert_consistent,
    bad_job,
    failed_job,
    fast_monitor,
    sim_clock,
)

pytestmark = pytest.mark.integration

COLLECTOR = "c_lost"
ENV = {"MAX_FAILS": "100", "MIN_LINES": "0", "MIN_SUCCESS_RATE": "0.9"}
LAMBDA_MS = 240_000

World = tuple[BrightDataSimulator, LocalStack, ManualClock, Ledger]


def lambda_time() -> int:
    return LAMBDA_MS


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    configure(**ENV)
    simulator.add_collector(COLLECTOR, "lost-products")
    return simulator, stack, sim_clock(simulator), Ledger(stack)


def quiet_store() -> StateStore:
    """The monitor's store, with backoff pauses that cost no time."""
    store = factory.state_store(factory.settings())
    store.sleep = lambda _seconds: None
    return store


# Cancellation reasons that claim nothing: another transaction on the same item, throttling,
# a validation error, and a cancellation that gives no reasons at all.
NOT_CLAIMED = ["TransactionConflict", "ThrottlingError", "ValidationError", None]


@pytest.mark.parametrize("code", NOT_CLAIMED)
def test_cancelled_transaction_is_retried_within_the_run(world: World, code: str | None) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    # Given DynamoDB cancelling the next two transactions for a reason that is not a claim
    store = quiet_store()
    canceller = TransactionCanceller(store.client, code, times=2)
    # When the monitor runs
    summary = fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    canceller.stop()
    # Then the alert was recorded on a later attempt of the same run and sent, once
    assert canceller.injected == 2
    ledger.collect()
    assert ledger.job_alerts() == {("job_failed", "j_fail1"): 1}
    assert summary.decisions_owed == 0
    assert_consistent(stack)


@pytest.mark.parametrize("code", NOT_CLAIMED)
def test_lasting_cancellation_leaves_the_decision_owed(world: World, code: str | None) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    # Given DynamoDB cancelling every transaction for a reason that is not a claim
    store = quiet_store()
    canceller = TransactionCanceller(store.client, code)
    # When the monitor runs
    summary = fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    # Then nothing was sent, the job stays live and not marked alerted, and the run says so
    assert ledger.collect() == []
    live = {r.job_id: r for r in store.live_jobs()}
    assert set(live) == {"j_fail1"}
    assert live["j_fail1"].alerted == []
    assert summary.decisions_owed == 1
    assert_consistent(stack)
    # When DynamoDB takes transactions again, Then the next run sends the owed alert, once
    canceller.stop()
    for _ in range(3):
        clock.advance(5)
        fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    ledger.collect()
    assert ledger.job_alerts() == {("job_failed", "j_fail1"): 1}
    ledger.verify_delivered()
    assert_consistent(stack)


def test_a_claim_whose_own_condition_failed_counts_as_taken(world: World) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    # Given another run that already claimed the job's rule (its condition fails here)
    store = quiet_store()
    canceller = TransactionCanceller(store.client, "ConditionalCheckFailed", times=1)
    # When the monitor runs, Then it re-plans without that claim (the other run sends it)
    # instead of sending the same transaction again
    summary = fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    canceller.stop()
    assert canceller.injected == 1
    assert summary.decisions_owed == 0
    ledger.collect()
    assert ledger.job_alerts() == {}


def test_a_failed_mark_of_sent_does_not_stop_the_run(world: World) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    sim.add_collector("c_other", "other-products")
    failed_job(sim, "j_fail2", collector="c_other")
    # Given the state table refusing the first mark of an alert as sent
    store = quiet_store()
    original = store.mark_sent
    refused = {"n": 0}

    def mark_sent_once_refused(*args: object, **kwargs: object) -> None:
        if not refused["n"]:
            refused["n"] += 1
            raise RuntimeError("DynamoDB refused the write")
        original(*args, **kwargs)  # type: ignore[arg-type]

    store.mark_sent = mark_sent_once_refused  # type: ignore[method-assign]
    # When the monitor runs, Then it goes on: the other alert is sent, both jobs are persisted
    summary = fast_monitor(clock, ledger=ledger, store=store, remaining_ms=lambda_time).run()
    assert refused["n"] == 1
    assert summary.alerts_sent == 1
    assert summary.alerts_failed == 1
    ledger.collect()
    assert ledger.job_alerts() == {("job_failed", "j_fail1"): 1, ("job_failed", "j_fail2"): 1}
    # When its lease has run out, Then the unmarked one goes out again with the same alert id
    # (subscribers drop it by that id), and nothing else repeats
    clock.advance(10)
    fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    ledger.collect()
    repeated = [aid for aid, n in ledger.alert_ids().items() if n > 1]
    assert len(repeated) == 1
    assert_consistent(stack)


# ---- an alarm opened during a silence ---------------------------------------------------------
RATE = "success_rate_below_min"


def run(world: World, minutes: float = 5) -> None:
    sim, stack, clock, ledger = world
    clock.advance(minutes)
    fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    ledger.collect()


def silenced_alarm(world: World, hours: float = 2) -> Silence:
    """The collector silenced, then an alarm opening under the silence (kept SUPPRESSED)."""
    sim, stack, clock, ledger = world
    silence = Silence(COLLECTOR, clock() + timedelta(hours=hours), "deploy", created_by="ops")
    factory.state_store(factory.settings()).silence(silence)
    bad_job(sim, "j_bad1", collector=COLLECTOR)
    run(world, 0)
    assert ledger.messages == []
    return silence


def test_an_alarm_opened_during_a_silence_is_announced_when_it_expires(world: World) -> None:
    sim, stack, clock, ledger = world
    silence = silenced_alarm(world)
    # While the silence lasts, nothing is told
    run(world, 60)
    assert ledger.messages == []
    # When it has expired and the alarm is still open
    clock.now = silence.until
    run(world, 1)
    # Then the alarm is announced once, saying it opened during the silence
    assert ledger.kinds(RATE) == ["ALARM"]
    [entry] = ledger.messages[0]["doc"]["entries"]
    assert "opened while the collector was silenced by ops (deploy) until" in entry["message"]
    assert entry["since"] is not None
    # And never again
    run(world)
    run(world)
    assert ledger.kinds(RATE) == ["ALARM"]
    assert_consistent(stack)


def test_an_alarm_hidden_by_a_removed_silence_is_announced_by_the_next_run(
    world: World,
) -> None:
    sim, stack, clock, ledger = world
    silenced_alarm(world, hours=24)
    # When the silence is removed early
    factory.state_store(factory.settings()).unsilence(COLLECTOR, clock())
    run(world)
    # Then the next run announces the alarm, once
    assert ledger.kinds(RATE) == ["ALARM"]
    run(world)
    assert ledger.kinds(RATE) == ["ALARM"]


def test_an_extended_silence_keeps_the_alarm_hidden_until_its_new_end(world: World) -> None:
    sim, stack, clock, ledger = world
    first = silenced_alarm(world, hours=1)
    store = factory.state_store(factory.settings())
    longer = Silence(COLLECTOR, first.until + timedelta(hours=2), "deploy, longer")
    store.silence(longer)
    # When the first end passes, Then nothing is told: the collector is still silenced
    clock.now = first.until
    run(world, 1)
    assert ledger.messages == []
    # When the new end passes, Then the alarm is announced once
    clock.now = longer.until
    run(world, 1)
    run(world)
    assert ledger.kinds(RATE) == ["ALARM"]


def test_an_alarm_that_closed_during_the_silence_is_not_announced(world: World) -> None:
    sim, stack, clock, ledger = world
    silence = silenced_alarm(world)
    # Given the collector healthy again while still silenced (its RESOLVED is suppressed too;
    # the full listing pass finds the new job)
    sim.add_job("j_ok1", COLLECTOR, "done", inputs=100, success=100, fails=0, lines=100)
    run(world, 35)
    # When the silence ends, Then nothing is told: nothing is open
    clock.now = silence.until
    run(world, 1)
    run(world)
    assert ledger.messages == []


def test_a_hidden_alarm_that_closes_after_the_silence_says_when_it_opened(world: World) -> None:
    sim, stack, clock, ledger = world
    silence = silenced_alarm(world)
    # When the silence has ended and the collector is healthy again before any run saw it open
    clock.now = silence.until
    sim.add_job("j_ok1", COLLECTOR, "done", inputs=100, success=100, fails=0, lines=100)
    run(world, 1)
    # Then one message tells both: it was open (since when, under which silence), and is over
    assert ledger.kinds(RATE) == ["RESOLVED"]
    [entry] = ledger.messages[0]["doc"]["entries"]
    assert "while the collector was silenced until" in entry["message"]
    run(world)
    assert ledger.kinds(RATE) == ["RESOLVED"]


# ---- one job answering 401 while the token works ----------------------------------------------


def test_one_job_answering_401_does_not_reject_the_token(world: World) -> None:
    sim, stack, clock, ledger = world
    # Given a tracked job the token cannot see (an id from another account), read first, and
    # jobs of the account that fail
    sim.add_job("j_aaaforeign", COLLECTOR, "running", inputs=10, success=5, fails=0, lines=5)
    sim.inject("log", "unauthorized", times=None, job_id="j_aaaforeign")
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    failed_job(sim, "j_fail2", collector=COLLECTOR)
    # When the monitor runs (more than once)
    healths = []
    for _ in range(4):
        clock.advance(5)
        summary = fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
        healths.append(summary.health)
    ledger.collect()
    # Then the token is not rejected: every other job is read and alerted, once
    assert healths == ["HEALTHY"] * 4
    assert ledger.kinds("api_health") == []
    assert ledger.job_alerts()[("job_failed", "j_fail1")] == 1
    assert ledger.job_alerts()[("job_failed", "j_fail2")] == 1
    # And the job that answers 401 is reported once, as a job that cannot be read
    assert ledger.job_alerts()[("job_unreadable", "j_aaaforeign")] == 1


def test_every_read_answering_401_still_rejects_the_token(world: World) -> None:
    sim, stack, clock, ledger = world
    failed_job(sim, "j_fail1", collector=COLLECTOR)
    fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    ledger.collect()
    # Given the token revoked: every call answers 401
    sim.inject("*", "unauthorized", times=None)
    sim.add_job("j_run1", COLLECTOR, "running", inputs=10, success=5, fails=0, lines=5)
    clock.advance(5)
    summary = fast_monitor(clock, ledger=ledger, remaining_ms=lambda_time).run()
    ledger.collect()
    # Then the monitor says so, once
    assert summary.health == "TOKEN_REJECTED"
    assert ledger.kinds("api_health") == ["DEGRADED"]
