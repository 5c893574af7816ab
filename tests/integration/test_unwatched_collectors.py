"""A collector the monitor cannot watch is named, never silently dropped: a collector whose job
listing keeps failing (an HTML page with 200, a 400 or 404, paging that never advances), an id in
`Collectors` the account does not have, a collector that left collectors_list; and an account
with more to list than one run has time for goes on where the last run stopped. Over the real
simulator and moto server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from job_alerts.models import HealthState
from job_alerts.monitor import RunSummary
from job_alerts.rules_listing import UNLISTED_AFTER_RUNS
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import SIM_TOKEN, Configure, Run
from tests.support import (
    COLLECTOR,
    World,
    collector_world,
    delivered,
    failed_job,
    fast_monitor,
    good_job,
)

pytestmark = pytest.mark.integration

BROKEN = "c_broken"
# Only job_failed speaks for jobs: every other message is about the collectors themselves.
JOB_RULES_ONLY = {"MAX_FAILS": "100", "MIN_SUCCESS_RATE": "0", "MIN_LINES": "0"}
# A maintenance page with what an alert must never show as it came: a control character,
# non-ASCII text and the API token.
HOSTILE_PAGE = f"<html><body>\x1b[31mMaintenance \u00e9t\u00e9 {SIM_TOKEN}</body></html>"


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    configure(**JOB_RULES_ONLY)
    return collector_world(simulator, stack)


def run(clock: ManualClock, **options: Any) -> RunSummary:
    clock.advance(5)
    return fast_monitor(clock, **options).run()


def entries(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for message in messages for entry in message["doc"]["entries"]]


def about(messages: list[dict[str, Any]], rule: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(collector id, kind, entry) of each delivered entry of `rule`."""
    return [
        (m["doc"]["collector"]["id"], e["kind"], e)
        for m in messages
        for e in m["doc"]["entries"]
        if e["rule"] == rule
    ]


# ---- a collector whose job listing keeps failing ---------------------------------------------

LISTING_FAULTS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    # name: (fault kind, params, what the alert must quote)
    "html_with_200": ("html", {"body": HOSTILE_PAGE}, ["HTML page", "Maintenance"]),
    "not_found_404": ("not_found", {}, ["404", "Not found"]),
    "bad_request_400": (
        "status",
        {"code": 400, "body": {"error": "Missing collector parameter"}},
        ["400", "Missing collector parameter"],
    ),
    "paging_never_advances": (
        "wrong_type",
        {"fields": {"total": 1000, "data": [{"id": "j_loop1", "status": "running"}]}},
        ["paging made no progress"],
    ),
}


@pytest.mark.parametrize("case", list(LISTING_FAULTS), ids=list(LISTING_FAULTS))
def test_failing_listing_alarms_once_after_three_runs_then_resolves(world: World, case: str):
    sim, stack, clock = world
    kind, params, quoted = LISTING_FAULTS[case]
    # Given two collectors, the listing of one of them answering what cannot be used, every run
    sim.add_collector(BROKEN, "broken-listing")
    failed_job(sim, "j_fine1")
    sim.add_job("j_hidden1", BROKEN, "failed", inputs=10, success=0, fails=10, lines=0)
    sim.inject("collector_jobs", kind, times=None, job_id=BROKEN, **params)
    # When the monitor runs UNLISTED_AFTER_RUNS - 1 times, Then only the other collector speaks
    for _ in range(UNLISTED_AFTER_RUNS - 1):
        summary = run(clock)
        assert summary.health == HealthState.HEALTHY.value
        assert about(delivered(stack), "collector_unlisted") == []
    # When it fails once more, Then one critical alarm names the collector, the endpoint and
    # the answer, escaped and without the token
    run(clock)
    messages = delivered(stack)
    ((collector, alert_kind, entry),) = about(messages, "collector_unlisted")
    assert (collector, alert_kind, entry["severity"]) == (BROKEN, "ALARM", "critical")
    assert "/dca/collector/jobs" in entry["message"]
    assert f"{UNLISTED_AFTER_RUNS} runs in a row" in entry["message"]
    for text in quoted:
        assert text in entry["message"]
    everything = str(messages)
    assert SIM_TOKEN not in everything
    assert "\x1b" not in everything
    # When it keeps failing, Then nothing more is said
    run(clock)
    assert delivered(stack) == []
    # When its listing works again, Then one RESOLVED, and its hidden failed job is found
    sim.clear_faults()
    run(clock)
    messages = delivered(stack)
    ((collector, alert_kind, entry),) = about(messages, "collector_unlisted")
    assert (collector, alert_kind) == (BROKEN, "RESOLVED")
    assert entry["message"] == "its jobs can be listed again"
    assert [e["job_ids"] for _, _, e in about(messages, "job_failed")] == [["j_hidden1"]]
    # And the other collector was watched throughout: its failed job alerted once
    assert sim.count("log", job_id="j_fine1") >= 1


def test_listing_failures_count_toward_health(world: World) -> None:
    sim, stack, clock = world
    # Given the only collector's listing answering an HTML page, and its live job timing out
    sim.add_job("j_live1", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    run(clock)
    delivered(stack)
    sim.inject("collector_jobs", "html", times=None)
    sim.inject("log", "status", times=None, code=503)
    # When the monitor runs with a full pass due (the listing is tried), Then most calls
    # failed: the API counts as unreachable
    clock.advance(30)
    summary = run(clock)
    assert summary.health == HealthState.API_UNREACHABLE.value
    (degraded,) = [e for e in entries(delivered(stack)) if e["kind"] == "DEGRADED"]
    assert "1 of 2 listings" in degraded["message"]


def test_idle_collector_listing_again_resolves_then_quiet_runs_make_no_writes(world: World):
    sim, stack, clock = world
    # Given a collector whose only job is settled and known (nothing left to judge: only its
    # alarm can bring it to be decided), whose listing then answers a page three runs in a row
    good_job(sim, "j_good1")
    run(clock)
    clock.advance(30)
    sim.inject("collector_jobs", "html", times=UNLISTED_AFTER_RUNS)
    for _ in range(UNLISTED_AFTER_RUNS):
        run(clock)
    # When it lists again, Then the alarm it opened resolves
    summary = run(clock)
    assert summary.jobs_read == 0
    assert [k for _, k, _ in about(delivered(stack), "collector_unlisted")] == [
        "ALARM",
        "RESOLVED",
    ]
    # When nothing new starts (and no full pass is due), Then a run lists nothing, writes nothing
    sim.reset_counts()
    summary = run(clock)
    assert sim.count("collector_jobs") == 0
    assert summary.state_ops["writes"] == 0


# ---- a collector the account does not show ----------------------------------------------------

TYPO = "c_amazom"


def test_typo_in_collectors_is_named_once_and_shown_in_status(
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
    clock: ManualClock,
    run_cli: Run,
) -> None:
    # Given Collectors naming a real collector and a mistyped one
    simulator.add_collector(COLLECTOR, "amazon-products")
    good_job(simulator, "j_good1")
    monitor_env(COLLECTORS=f"{COLLECTOR},{TYPO}", **JOB_RULES_ONLY)
    # When the monitor runs, Then one warning names the id the account does not have
    assert run_cli("run")[0] == 0
    messages = delivered(stack)
    ((collector, kind, entry),) = about(messages, "collector_not_found")
    assert (collector, kind, entry["severity"]) == (TYPO, "ALARM", "warning")
    assert entry["message"].startswith(f"{TYPO} is not in this account's collectors")
    (subject,) = [m["subject"] for m in messages if m["doc"]["collector"]["id"] == TYPO]
    assert subject.startswith(f"[WARNING] {TYPO}: {TYPO} is not in this account's collectors")
    # When it runs again, Then nothing more is said
    clock.advance(5)
    assert run_cli("run")[0] == 0
    assert delivered(stack) == []
    # And status shows the open alarm, naming the id and the rule
    code, out, _ = run_cli("status")
    assert code == 1
    assert TYPO in out
    assert "collector_not_found" in out
    code, out, _ = run_cli("status", "--json")
    (alarm,) = json.loads(out)["open_alarms"]
    assert (alarm["collector"]["id"], alarm["rule"], alarm["severity"]) == (
        TYPO,
        "collector_not_found",
        "warning",
    )
    assert alarm["message"].startswith(f"{TYPO} is not in this account's collectors")
    # When the typo is taken out of Collectors, Then the alarm resolves, saying why
    monitor_env(COLLECTORS=COLLECTOR, **JOB_RULES_ONLY)
    clock.advance(5)
    assert run_cli("run")[0] == 0
    ((collector, kind, entry),) = about(delivered(stack), "collector_not_found")
    assert (collector, kind) == (TYPO, "RESOLVED")
    assert "no longer in Collectors" in entry["message"]
    assert run_cli("status")[0] == 0


def test_typo_whose_listing_fails_is_named_once(world: World, configure: Configure) -> None:
    sim, stack, clock = world
    # Given a mistyped id whose own job listing answers 404
    configure(COLLECTORS=f"{COLLECTOR},{TYPO}")
    sim.inject("collector_jobs", "not_found", times=None, job_id=TYPO)
    # When the monitor runs twice, Then one warning, quoting the failed listing
    for _ in range(2):
        run(clock)
    ((collector, kind, entry),) = about(delivered(stack), "collector_not_found")
    assert (collector, kind) == (TYPO, "ALARM")
    assert "listing its jobs failed" in entry["message"]
    assert "404" in entry["message"]
    # And its failing listing is not told twice: no collector_unlisted on top
    for _ in range(UNLISTED_AFTER_RUNS):
        run(clock)
    assert delivered(stack) == []


def test_collector_leaving_collectors_list_is_named_then_back(world: World) -> None:
    sim, stack, clock = world
    # Given two collectors the monitor has listed
    sim.add_collector(BROKEN, "soon-gone")
    good_job(sim, "j_good1")
    run(clock)
    assert delivered(stack) == []
    # When collectors_list stops showing one and its job listing answers 404
    shown_only = {"data": [{"id": COLLECTOR, "name": "amazon-products"}], "total": 1}
    sim.inject("collectors_list", "wrong_type", times=None, fields=shown_only)
    sim.inject("collector_jobs", "not_found", times=None, job_id=BROKEN)
    run(clock)
    run(clock)
    # Then one warning names it (once)
    ((collector, kind, entry),) = about(delivered(stack), "collector_not_found")
    assert (collector, kind, entry["severity"]) == (BROKEN, "ALARM", "warning")
    assert entry["message"].startswith(f"{BROKEN} is not in this account's collectors")
    # When it is listed again, Then it is resolved
    sim.clear_faults()
    run(clock)
    ((collector, kind, entry),) = about(delivered(stack), "collector_not_found")
    assert (collector, kind) == (BROKEN, "RESOLVED")
    assert entry["message"] == "it is in this account's collectors again"


def test_collector_missing_from_collectors_list_but_listing_jobs_is_still_watched(
    world: World,
) -> None:
    sim, stack, clock = world
    # Given a collector the monitor listed, then collectors_list leaves it out
    sim.add_collector(BROKEN, "unlisted-but-alive")
    run(clock)
    shown_only = {"data": [{"id": COLLECTOR, "name": "amazon-products"}], "total": 1}
    sim.inject("collectors_list", "wrong_type", times=None, fields=shown_only)
    # When a job of it fails, Then it is alerted, and nothing says the collector is gone
    sim.add_job("j_late1", BROKEN, "failed", inputs=10, success=0, fails=10, lines=0)
    run(clock)
    messages = delivered(stack)
    assert about(messages, "collector_not_found") == []
    assert [e["job_ids"] for _, _, e in about(messages, "job_failed")] == [["j_late1"]]


# ---- more to list than one run has time for -------------------------------------------------


class ListingClock:
    """A Lambda's remaining time that only listings spend: each job listing served costs
    `cost_ms` of `budget_ms`, counted from when the run's monitor was built."""

    def __init__(self, sim: BrightDataSimulator, budget_ms: int, cost_ms: int) -> None:
        self.sim = sim
        self.start = sim.count("collector_jobs")
        self.budget_ms = budget_ms
        self.cost_ms = cost_ms

    def __call__(self) -> int:
        return self.budget_ms - self.cost_ms * (self.sim.count("collector_jobs") - self.start)


def test_discovery_leaves_half_the_time_to_reading_and_the_next_run_goes_on(
    world: World, configure: Configure
) -> None:
    sim, stack, clock = world
    # Given six collectors with a failed job each, listed one at a time, each listing costing a
    # fifth of the run's time (discovery may spend half of it)
    configure(MAX_CONCURRENCY="1")
    collectors = [COLLECTOR, *(f"c_busy{n}" for n in range(1, 6))]
    for n, cid in enumerate(collectors):
        sim.add_collector(cid, f"busy-{n}")
        failed_job(sim, f"j_fail{n}", collector=cid)

    def budget() -> ListingClock:
        return ListingClock(sim, budget_ms=100_000, cost_ms=20_000)

    # When the monitor runs, Then it stops listing once half the time is spent, and reads
    summary = run(clock, remaining_ms=budget())
    assert sim.count("collector_jobs") == 3
    assert summary.collectors_deferred == 3
    first = {e["job_ids"][0] for _, _, e in about(delivered(stack), "job_failed")}
    assert len(first) == 3
    # When the next run comes, Then it lists the collectors left, and their jobs are alerted
    summary = run(clock, remaining_ms=budget())
    assert sim.count("collector_jobs") == 6
    assert summary.collectors_deferred == 0
    second = {e["job_ids"][0] for _, _, e in about(delivered(stack), "job_failed")}
    assert first | second == {f"j_fail{n}" for n in range(6)}
    assert not first & second
    # And a listing left for later is no failure: with every collector due again (a full pass)
    # on each of several runs, half of them left each time, none is said to be unlisted
    for _ in range(UNLISTED_AFTER_RUNS + 1):
        clock.advance(30)
        summary = run(clock, remaining_ms=budget())
        assert summary.collectors_deferred == 3
    assert about(delivered(stack), "collector_unlisted") == []


def test_overrides_for_a_collector_the_account_does_not_list_are_logged(
    world: World,
    configure: Configure,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from job_alerts import factory, service

    sim, stack, clock = world
    # Given limits for a mistyped id beside limits for the real collector
    document = {"collectors": {COLLECTOR: {"max_fails": 5}, "c_typo0001": {"max_fails": 5}}}
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    configure(THRESHOLDS_FILE=str(path))
    # When the monitor runs as the handler builds it
    clock.advance(5)
    with caplog.at_level(logging.WARNING):
        service.build_monitor(factory.settings(), clock=clock).run()
    # Then the run names the id whose limits judge no collector, and only it
    warned = [r for r in caplog.records if "does not list" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].__dict__.get("collectors") == ["c_typo0001"]
