"""Silence means healthy: hostile answers from Bright Data through the real monitor, over moto
server and the simulator. Each job is judged, or reported once as unjudgeable within 3 runs; no
run fails; no run is HEALTHY and silent about a job it could not judge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from job_alerts.models import HealthState
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure
from tests.support import (
    COLLECTOR,
    World,
    collector_world,
    delivered,
    failed_job,
    good_job,
    kinds,
    make_monitor,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    return collector_world(simulator, stack)


def all_kinds(stack: LocalStack) -> list[tuple[str, str]]:
    return [k for message in delivered(stack) for k in kinds(message)]


def run(clock: ManualClock, minutes: float = 5) -> Any:
    """One scheduled run, `minutes` after the previous one."""
    clock.advance(minutes)
    return make_monitor(clock).run()


@pytest.mark.parametrize("rate", [40, "40", "40%"])
def test_percent_success_rate_is_judged(world: World, configure: Configure, rate: Any):
    sim, stack, clock = world
    configure(MAX_FAILS="100")
    # Given a done job whose log reports its success rate in percent
    sim.add_job("j_pct", COLLECTOR, "done", inputs=100, success=40, fails=60, lines=40)
    sim.inject("log", "wrong_type", times=None, job_id="j_pct", fields={"Success_rate": rate})
    # When the monitor runs, Then the success-rate alarm is raised and the job settles
    summary = run(clock)
    assert all_kinds(stack) == [("ALARM", "success_rate_below_min")]
    assert summary.jobs_settled == 1


def test_failed_job_with_epoch_millisecond_times_is_reported(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100", MIN_SUCCESS_RATE="0", MIN_LINES="0")
    failed_job(sim, "j_ms")
    created = int((clock.now - timedelta(minutes=20)).timestamp() * 1000)
    finished = int((clock.now - timedelta(minutes=2)).timestamp() * 1000)
    sim.inject(
        "log",
        "wrong_type",
        times=None,
        job_id="j_ms",
        fields={"created": created, "started": str(created), "finished": finished},
    )
    run(clock)
    assert ("JOB", "job_failed") in all_kinds(stack)


def test_html_page_for_every_read_degrades_the_monitor(world: World) -> None:
    sim, stack, clock = world
    # Given jobs, and every log read answered with a 200 HTML maintenance page
    for n in range(3):
        good_job(sim, f"j_html{n}")
    sim.inject("log", "html", times=None)
    # When the monitor runs, Then it is not HEALTHY-and-silent: one DEGRADED alert
    summary = run(clock)
    assert summary.health == HealthState.API_UNREACHABLE.value
    assert summary.unjudgeable == {"html": 3}
    assert all_kinds(stack) == [("DEGRADED", "api_health")]
    # And the jobs stay live for the next run
    run(clock)
    assert delivered(stack) == []
    sim.clear_faults()
    summary = run(clock)
    assert summary.jobs_settled == 3
    assert all_kinds(stack) == [("RECOVERED", "api_health")]


def test_one_unjudgeable_job_is_reported_once_after_three_reads_then_cleared(
    world: World,
) -> None:
    sim, stack, clock = world
    # Given three good jobs and one running job whose log is always an HTML page
    for n in range(3):
        good_job(sim, f"j_ok{n}")
    sim.add_job("j_odd", COLLECTOR, "running", inputs=100, success=10, fails=0, lines=10)
    sim.inject("log", "html", times=None, job_id="j_odd")
    # When the monitor runs twice, Then it stays healthy and says nothing yet
    first = run(clock)
    assert first.health == HealthState.HEALTHY.value
    assert first.unjudgeable == {"html": 1}
    run(clock)
    assert delivered(stack) == []
    # When the third read fails too, Then one alert names the job, its collector and the reason
    run(clock)
    (message,) = delivered(stack)
    assert kinds(message) == [("JOB", "job_unreadable")]
    entry = message["doc"]["entries"][0]
    assert "j_odd" in entry["message"] and COLLECTOR in entry["message"]
    assert "html" in entry["message"]
    assert "&lt;" not in entry["message"] or "<" not in entry["message"]
    # And it is not repeated, while the job stays tracked
    run(clock)
    assert delivered(stack) == []
    assert sim.count("log", job_id="j_odd") == 4
    # When the job becomes readable, Then the alert is cleared once
    sim.clear_faults()
    run(clock)
    assert all_kinds(stack) == [("RESOLVED", "job_unreadable")]
    run(clock)
    assert delivered(stack) == []


def test_half_megabyte_unknown_field_never_breaks_a_run(world: World, configure: Configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100", MIN_SUCCESS_RATE="0", MIN_LINES="0")
    # Given a failed job whose log carries an unknown 500 KB field
    failed_job(sim, "j_big")
    sim.inject("log", "wrong_type", times=None, job_id="j_big", fields={"debug": "x" * 500_000})
    # When the monitor runs twice, Then it alerts once and no run fails
    run(clock)
    assert ("JOB", "job_failed") in all_kinds(stack)
    good_job(sim, "j_after")
    summary = run(clock)
    assert summary.jobs_read == 1  # the failed job settled; only the new one is read
    assert delivered(stack) == []


def test_oversized_body_is_unjudgeable_not_a_crash(world: World) -> None:
    sim, stack, clock = world
    for n in range(3):
        good_job(sim, f"j_ok{n}")
    sim.add_job("j_huge", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    sim.inject("log", "huge", times=None, job_id="j_huge", size=5 * 1024 * 1024)
    for _ in range(3):
        summary = run(clock)
        assert summary.unjudgeable == {"too_large": 1}
    assert all_kinds(stack) == [("JOB", "job_unreadable")]


def test_refused_collectors_list_still_judges_named_collectors(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    # Given an account whose collectors_list answers 403 while the token works
    configure(COLLECTORS=COLLECTOR, MAX_FAILS="100", MIN_SUCCESS_RATE="0", MIN_LINES="0")
    sim.inject("collectors_list", "forbidden", times=None)
    failed_job(sim, "j_f403")
    # When the monitor runs, Then the job is found and judged anyway
    summary = run(clock)
    assert summary.health == HealthState.ENDPOINT_REFUSED.value
    entries = [e for m in delivered(stack) for e in m["doc"]["entries"]]
    assert ("JOB", "job_failed") in [(e["kind"], e["rule"]) for e in entries]
    # And the DEGRADED alert names the endpoint and status that were refused
    (degraded,) = [e for e in entries if e["kind"] == "DEGRADED"]
    assert "collectors_list" in degraded["message"]
    assert "403" in degraded["message"]


def test_job_listed_under_two_collectors_is_credited_to_its_log(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100", MIN_SUCCESS_RATE="0", MIN_LINES="0")
    sim.add_collector("c_other", "other")
    sim.add_job("j_twice", "c_other", "failed", inputs=10, success=0, fails=10, lines=0)
    # The listing of COLLECTOR names it too, but its log says c_other
    sim.inject(
        "collector_jobs",
        "wrong_type",
        times=None,
        fields={"data": [{"id": "j_twice", "status": "failed"}]},
    )
    run(clock)
    (message,) = delivered(stack)
    assert message["doc"]["collector"]["id"] == "c_other"
