"""A 404 from Bright Data for a job it still keeps, over the real simulator and moto server: one
404 (or a few within minutes) is a glitch, and the job is read again and alerted as usual; it is
forgotten only after 404s spread over 30 minutes, or once it is older than Bright Data keeps it
(batch j_ 16 days, real-time vj_ 7 days)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from job_alerts.monitor import RunSummary
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure
from tests.support import COLLECTOR, Ledger, World, assert_consistent, collector_world, fast_monitor

pytestmark = pytest.mark.integration

# Only job_failed speaks: expectations stay exact.
ENV = {"MAX_FAILS": "100", "MIN_LINES": "0", "MIN_SUCCESS_RATE": "0"}


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    configure(**ENV)
    return collector_world(simulator, stack)


def running_job(sim: BrightDataSimulator, job_id: str) -> None:
    sim.add_job(job_id, COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)


def run_after(world: World, ledger: Ledger, minutes: float) -> RunSummary:
    sim, stack, clock = world
    clock.advance(minutes)
    return fast_monitor(clock, ledger=ledger).run()


def live_ids(stack: LocalStack) -> set[str]:
    items = assert_consistent(stack)
    return {i["job_id"] for i in items if i["sk"] == "JOB" and i.get("gsi1pk") == "LIVE"}


def test_not_found_once_then_the_job_reads_again_and_its_failure_is_alerted(world) -> None:
    sim, stack, clock = world
    ledger = Ledger(stack)
    # Given a running job the monitor has read
    running_job(sim, "j_blip")
    run_after(world, ledger, 0)
    # When one read of it answers 404
    sim.inject("log", "not_found", times=1, job_id="j_blip")
    summary = run_after(world, ledger, 5)
    # Then it is not forgotten: nothing is said, and it stays live
    assert summary.jobs_expired == 0
    assert ledger.collect() == []
    assert live_ids(stack) == {"j_blip"}
    # When it then fails, Then the next run reads it and alerts its failure, once
    sim.update_job("j_blip", status="failed", fails=9, finished=clock.now)
    summary = run_after(world, ledger, 5)
    assert summary.jobs_settled == 1
    assert ledger.job_alerts() == {("job_failed", "j_blip"): 1}
    run_after(world, ledger, 5)
    assert ledger.job_alerts() == {("job_failed", "j_blip"): 1}
    ledger.verify_delivered()
    assert live_ids(stack) == set()


def test_not_found_three_times_within_ten_minutes_does_not_expire(world) -> None:
    sim, stack, clock = world
    ledger = Ledger(stack)
    # Given a running job the monitor has read
    running_job(sim, "j_hiccup")
    run_after(world, ledger, 0)
    # When its next three reads, 5 minutes apart, answer 404
    sim.inject("log", "not_found", times=3, job_id="j_hiccup")
    expired = [run_after(world, ledger, 5).jobs_expired for _ in range(3)]
    # Then it is still live, and read again once Bright Data answers
    assert expired == [0, 0, 0]
    assert live_ids(stack) == {"j_hiccup"}
    sim.reset_counts()
    summary = run_after(world, ledger, 5)
    assert sim.count("log", job_id="j_hiccup") == 1
    assert summary.jobs_read == 1
    assert ledger.collect() == []


def test_not_found_three_times_over_more_than_30_minutes_expires(world) -> None:
    sim, stack, clock = world
    ledger = Ledger(stack)
    # Given a running job the monitor has read, which then vanishes for good
    running_job(sim, "j_gone")
    run_after(world, ledger, 0)
    sim.remove_job("j_gone")
    # When it answers 404 on three reads 20 minutes apart
    expired = [run_after(world, ledger, 20).jobs_expired for _ in range(3)]
    # Then the third, 40 minutes after the first, expires it; nothing is said of it
    assert expired == [0, 0, 1]
    assert live_ids(stack) == set()
    assert ledger.collect() == []
    # And it is never read again
    sim.reset_counts()
    run_after(world, ledger, 5)
    assert sim.count("log", job_id="j_gone") == 0


@pytest.mark.parametrize(
    ("job_id", "kept"),
    [
        pytest.param("j_aged", timedelta(days=16), id="batch"),
        pytest.param("vj_aged", timedelta(days=7), id="real_time"),
    ],
)
def test_not_found_for_a_job_older_than_retention_expires_at_once(
    world, job_id: str, kept: timedelta
) -> None:
    sim, stack, clock = world
    ledger = Ledger(stack)
    # Given a running job the monitor has read
    running_job(sim, job_id)
    run_after(world, ledger, 0)
    # When, past the time Bright Data keeps it, its read answers 404
    sim.remove_job(job_id)
    summary = run_after(world, ledger, kept.total_seconds() / 60 + 5)
    # Then it expires on that first 404
    assert summary.jobs_expired == 1
    assert live_ids(stack) == set()
