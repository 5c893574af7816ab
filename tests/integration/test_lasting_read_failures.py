"""A failure that lasts is said, never waited out in silence: a job whose reads keep failing
(5xx, 400) while the API serves the rest is reported as job_unreadable, and without `Collectors`
a collectors_list that keeps failing still lists the collectors already known and says, once,
that a new collector would go unseen. Over the real simulator and moto server."""

from __future__ import annotations

from typing import Any

import pytest

from job_alerts.decide import UNREADABLE_AFTER
from job_alerts.decide.health import ACCOUNT_UNLISTED_AFTER_RUNS
from job_alerts.models import HealthState
from job_alerts.monitor import RunSummary
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import SIM_TOKEN, Configure
from tests.support import COLLECTOR, World, collector_world, delivered, failed_job, fast_monitor

pytestmark = pytest.mark.integration

STUCK = "j_stuck1"


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    configure(MAX_FAILS="100", MIN_SUCCESS_RATE="0", MIN_LINES="0")
    return collector_world(simulator, stack)


def run(clock: ManualClock) -> RunSummary:
    clock.advance(5)
    return fast_monitor(clock).run()


def about(messages: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [e for m in messages for e in m["doc"]["entries"] if e["rule"] == rule]


@pytest.mark.parametrize(
    ("code", "reason"), [(503, "transient"), (400, "http_400")], ids=["503", "400"]
)
def test_job_whose_reads_keep_failing_is_reported_once(world: World, code: int, reason: str):
    sim, stack, clock = world
    # Given a running job whose every read fails, beside jobs that read fine
    sim.add_job(STUCK, COLLECTOR, "running", inputs=10, success=5, fails=0, lines=5)
    sim.inject("log", "status", times=None, job_id=STUCK, code=code)
    failed_job(sim, "j_fine1")
    # When the monitor runs UNREADABLE_AFTER - 1 times, Then the API is healthy and the job is
    # not yet reported
    for _ in range(UNREADABLE_AFTER - 1):
        assert run(clock).health == HealthState.HEALTHY.value
        assert about(delivered(stack), "job_unreadable") == []
    # When it fails once more, Then one warning names the job, why, and the last error
    summary = run(clock)
    assert summary.health == HealthState.HEALTHY.value
    messages = delivered(stack)
    (entry,) = about(messages, "job_unreadable")
    assert entry["severity"] == "warning"
    assert STUCK in entry["message"]
    assert f"{UNREADABLE_AFTER} reads in a row" in entry["message"]
    assert f"({reason})" in entry["message"]
    assert "last error" in entry["message"]
    assert SIM_TOKEN not in str(messages)
    # And a failed read is not counted as an answer that cannot be judged
    assert summary.unjudgeable == {}
    # When it keeps failing, Then nothing more is said
    run(clock)
    assert about(delivered(stack), "job_unreadable") == []


def test_whole_api_down_is_health_not_one_report_per_job(world: World) -> None:
    sim, stack, clock = world
    # Given running jobs, then every read failing
    for n in range(3):
        sim.add_job(f"j_live{n}", COLLECTOR, "running", inputs=10, success=5, fails=0, lines=5)
    run(clock)
    delivered(stack)
    sim.inject("log", "status", times=None, code=503)
    # When the monitor runs many times, Then health says it and no job is reported unreadable
    healths = [run(clock).health for _ in range(UNREADABLE_AFTER + 1)]
    assert HealthState.API_UNREACHABLE.value in healths
    assert about(delivered(stack), "job_unreadable") == []


def test_failing_collectors_list_without_collectors_still_watches_known(world: World) -> None:
    sim, stack, clock = world
    # Given a known collector (listed once), then collectors_list answering 503 every run
    failed_job(sim, "j_first1")
    run(clock)
    delivered(stack)
    sim.inject("collectors_list", "status", times=None, code=503)
    # When the monitor runs ACCOUNT_UNLISTED_AFTER_RUNS - 1 times, Then it stays healthy and a
    # new failed job of the known collector is still found and alerted
    failed_job(sim, "j_later1")
    healths = []
    alerted: list[list[str]] = []
    for _ in range(ACCOUNT_UNLISTED_AFTER_RUNS - 1):
        healths.append(run(clock).health)
        messages = delivered(stack)
        alerted += [e["job_ids"] for e in about(messages, "job_failed")]
        assert [e for m in messages for e in m["doc"]["entries"] if e["kind"] == "DEGRADED"] == []
    assert healths == [HealthState.HEALTHY.value] * (ACCOUNT_UNLISTED_AFTER_RUNS - 1)
    assert alerted == [["j_later1"]]
    # When it fails once more, Then one DEGRADED says the account cannot be listed, and no
    # message says the collector left the account
    assert run(clock).health == HealthState.ACCOUNT_UNLISTED.value
    messages = delivered(stack)
    (degraded,) = [e for m in messages for e in m["doc"]["entries"] if e["kind"] == "DEGRADED"]
    assert "collectors_list keeps failing" in degraded["message"]
    assert "no longer" not in str(messages)
    run(clock)
    assert [
        e for m in delivered(stack) for e in m["doc"]["entries"] if e["kind"] == "DEGRADED"
    ] == []
    # When collectors_list answers again, Then one RECOVERED
    sim.clear_faults()
    assert run(clock).health == HealthState.HEALTHY.value
    kinds = [e["kind"] for m in delivered(stack) for e in m["doc"]["entries"]]
    assert "RECOVERED" in kinds
