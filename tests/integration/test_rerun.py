"""Opt-in remediation over real local servers (the Bright Data simulator and moto server): an
opted-in collector's failed job has its failed inputs rerun exactly once, whatever runs overlap
or repeat; the new job is named, and what it recovered is told once when it settles. Never for a
collector not opted in, never past the daily cap, never in a dry run, never for a rerun."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from job_alerts import factory
from job_alerts.models import JobRuleClaim
from job_alerts.monitor import RunSummary
from job_alerts.remediation import RERUN
from job_alerts.state.store import RerunClaim
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import T0, Configure
from tests.support import COLLECTOR, World, collector_world, delivered, failed_job, make_monitor

pytestmark = pytest.mark.integration


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    return collector_world(simulator, stack)


def entries(stack: LocalStack) -> list[dict[str, Any]]:
    """Every entry the topic delivered since the last call."""
    return [entry for message in delivered(stack) for entry in message["doc"]["entries"]]


def rerun_entries(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in found if e["rule"] == "rerun"]


def overlapping_runs(sim: BrightDataSimulator, count: int = 2) -> list[RunSummary]:
    """`count` monitor runs at once, their requests interleaved."""
    clock = sim.clock
    summaries: list[RunSummary] = []
    sim.latency = 0.02
    threads = [
        threading.Thread(target=lambda: summaries.append(make_monitor(clock).run()))
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sim.latency = 0
    return summaries


def test_rerun_an_opted_in_failed_job_once_across_overlapping_runs_and_tell_its_outcome_once(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    configure(RERUN_COLLECTORS=COLLECTOR)
    # Given a job of an opted-in collector that failed all 10 of its inputs
    failed_job(sim, "j_fail")
    # When two runs overlap, and more runs follow
    summaries = overlapping_runs(sim)
    clock.advance(15)  # past any lease: whatever is still owed is published
    make_monitor(clock).run()
    # Then the failed inputs were rerun once, and the job failure and the rerun told once each
    assert sim.count("rerun") == 1
    assert sum(s.reruns.get("started", 0) for s in summaries) == 1
    found = entries(stack)
    assert [e["rule"] for e in found if e["kind"] == "JOB"].count("job_failed") == 1
    (started,) = rerun_entries(found)
    old, new = started["job_ids"]
    assert old == "j_fail"
    assert started["message"].startswith(f"rerun {new} started for the 10 failed inputs of j_fail")
    # And the new job is tracked like any other, as the rerun of j_fail
    tracked = factory.state_store(factory.settings()).get_jobs([new])[new]
    assert (tracked.source, tracked.rerun_of) == ("rerun", "j_fail")
    assert tracked.collector_id == COLLECTOR

    # When the rerun job runs, Then nothing is told until it settles
    sim.advance(new)
    clock.advance(5)
    make_monitor(clock).run()
    assert rerun_entries(entries(stack)) == []
    # When it settles having recovered 8 of the 10 inputs
    sim.advance(new, fails=2)
    clock.advance(5)
    make_monitor(clock).run()
    # Then what it recovered is told, once, and it is not rerun itself
    (outcome,) = rerun_entries(entries(stack))
    assert outcome["message"] == f"rerun {new} of j_fail recovered 8 of 10 inputs"
    for _ in range(3):
        clock.advance(5)
        make_monitor(clock).run()
        assert rerun_entries(entries(stack)) == []
    assert sim.count("rerun") == 1


def test_rerun_a_rerun_never(world: World, configure: Configure) -> None:
    sim, stack, clock = world
    configure(RERUN_COLLECTORS=COLLECTOR)
    failed_job(sim, "j_fail")
    make_monitor(clock).run()
    (started,) = rerun_entries(entries(stack))
    new = started["job_ids"][1]
    # When the rerun fails all its inputs too
    sim.update_job(new, status="failed", success=0, fails=10)
    for _ in range(3):
        clock.advance(5)
        make_monitor(clock).run()
    # Then its failure and its outcome are told, and it is not rerun
    found = entries(stack)
    assert ("job_failed", new) in {(e["rule"], e["job_ids"][0]) for e in found}
    assert [e["message"] for e in rerun_entries(found)] == [
        f"rerun {new} of j_fail recovered 0 of 10 inputs"
    ]
    assert sim.count("rerun") == 1


def test_rerun_never_for_a_collector_not_opted_in(world: World, configure: Configure) -> None:
    sim, stack, clock = world
    configure(RERUN_COLLECTORS="c_other")
    failed_job(sim, "j_fail")
    for _ in range(3):
        summary = make_monitor(clock).run()
        clock.advance(5)
    assert sim.count("rerun") == 0
    assert summary.reruns == {}
    rules = [e["rule"] for e in entries(stack)]
    assert rules.count("job_failed") == 1
    assert "rerun" not in rules


def test_rerun_opted_in_by_the_override_document(
    world: World, configure: Configure, tmp_path: Path
) -> None:
    sim, stack, clock = world
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"collectors": {COLLECTOR: {"rerun_failed_inputs": True}}}))
    configure(THRESHOLDS_FILE=str(overrides))
    failed_job(sim, "j_fail")
    make_monitor(clock).run()
    assert sim.count("rerun") == 1
    assert len(rerun_entries(entries(stack))) == 1


def test_rerun_at_most_the_daily_cap_per_collector(world: World, configure: Configure) -> None:
    sim, _stack, clock = world
    configure(RERUN_COLLECTORS=COLLECTOR, MAX_RERUNS_PER_DAY="1")
    # Given two failed jobs on one day
    failed_job(sim, "j_fail1")
    failed_job(sim, "j_fail2")
    summary = make_monitor(clock).run()
    # Then one is rerun, the other is counted as capped and not asked for
    assert sim.count("rerun") == 1
    assert summary.reruns == {"started": 1, "capped": 1}
    clock.advance(5)
    make_monitor(clock).run()
    assert sim.count("rerun") == 1
    # When a job fails the next day, Then the day's count starts again
    clock.set(clock() + timedelta(days=1))
    failed_job(sim, "j_fail3")
    make_monitor(clock).run()
    assert sim.count("rerun") == 2


def test_rerun_never_in_a_dry_run(world: World, configure: Configure) -> None:
    sim, _stack, clock = world
    configure(RERUN_COLLECTORS=COLLECTOR)
    failed_job(sim, "j_fail")
    summary = make_monitor(clock).run(dry_run=True)
    assert sim.count("rerun") == 0
    assert summary.reruns == {}
    # And a dry run claims nothing: the real run that follows reruns the job
    make_monitor(clock).run()
    assert sim.count("rerun") == 1


def test_rerun_refused_by_the_api_is_told_and_never_asked_again(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    configure(RERUN_COLLECTORS=COLLECTOR)
    failed_job(sim, "j_fail")
    sim.inject("rerun", "status", code=503)
    summary = make_monitor(clock).run()
    assert summary.reruns == {"refused": 1}
    (refused,) = rerun_entries(entries(stack))
    assert refused["severity"] == "warning"
    assert refused["message"].startswith("rerun of the failed inputs of j_fail not started")
    for _ in range(3):
        clock.advance(5)
        make_monitor(clock).run()
    assert sim.count("rerun") == 1
    assert rerun_entries(entries(stack)) == []


def test_rerun_claim_is_once_per_job_and_within_the_daily_cap(
    stack: LocalStack, configure: Configure
) -> None:
    store = factory.state_store(configure())
    at = T0

    def claim(job_id: str, cap: int = 2) -> RerunClaim:
        return store.claim_rerun(JobRuleClaim(job_id, RERUN, at, 7), COLLECTOR, cap)

    assert claim("j_a") is RerunClaim.CLAIMED
    # A second claim of the same job (another run, a retry) is refused, and not counted
    assert claim("j_a") is RerunClaim.TAKEN
    assert claim("j_b") is RerunClaim.CLAIMED
    assert claim("j_c") is RerunClaim.CAPPED
    # A job claimed before is told as taken, even with the day's count reached
    assert claim("j_a") is RerunClaim.TAKEN
    # The cap is per collector and UTC day: the next day counts from zero
    at = T0 + timedelta(days=1)
    assert claim("j_c") is RerunClaim.CLAIMED


def test_the_rerun_follow_up_comes_after_the_alert_it_follows(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    configure(RERUN_COLLECTORS=COLLECTOR)
    failed_job(sim, "j_fail")
    make_monitor(clock).run()
    # The outbox sends in creation order: the follow-up is created after the job's alert
    records = factory.state_store(factory.settings()).history(collector_id=COLLECTOR)
    created = {
        entry["rule"]: record.created_at
        for record in records
        for entry in record.document["entries"]
    }
    assert created["job_failed"] < created["rerun"]
    # And the topic delivered them in that order
    rules = [[e["rule"] for e in m["doc"]["entries"]] for m in delivered(stack)]
    assert rules.index(["rerun"]) > next(i for i, r in enumerate(rules) if "job_failed" in r)
