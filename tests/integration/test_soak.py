"""Soak: 50 consecutive monitor runs over the simulator with seeded random faults (5xx, resets,
429, latency, malformed bodies, SNS failures) while jobs come and go, then fault-free runs until
quiet. Every owed alert must arrive exactly once. Runs only in `make soak` (pytest -m soak)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from job_alerts import factory
from job_alerts.models import AlarmState, HealthState
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.integration.faults import (
    FlakyPublisher,
    Ledger,
    alternates,
    assert_consistent,
    fast_client,
    make_monitor,
    sim_clock,
)

pytestmark = [pytest.mark.integration, pytest.mark.soak]

SEED = 20261129
RUNS = 50
TIME_LIMIT_SECONDS = 120
COLLECTOR = "c_soak"
RULE = "success_rate_below_min"
# Faults drawn for a run: (endpoint, kind, params); each hits 1-3 matching requests.
FAULTS: list[tuple[str, str, dict[str, Any]]] = [
    ("log", "status", {"code": 503}),
    ("log", "status", {"code": 500}),
    ("log", "reset", {}),
    ("log", "rate_limit", {"retry_after": 0}),
    ("log", "rate_limit", {}),
    ("log", "latency", {"seconds": 0.05}),
    ("log", "malformed", {}),
    ("collectors_list", "status", {"code": 502}),
    ("collector_jobs", "reset", {}),
    ("hp_errors", "status", {"code": 500}),
]


def test_soak_random_faults_every_alert_once(
    request: pytest.FixtureRequest,
    monitor_env: Callable[..., None],
    simulator: BrightDataSimulator,
    stack: LocalStack,
) -> None:
    if "soak" not in (request.config.getoption("-m") or ""):
        pytest.skip("runs in make soak")
    rng = random.Random(SEED)
    monitor_env(
        MIN_SUCCESS_RATE="0.8",
        MAX_FAILS="100000",
        MIN_LINES="0",
        MAX_RUN_MINUTES="100000",
        MAX_QUEUE_MINUTES="100000",
        MAX_CONCURRENCY="4",
    )
    sim = simulator
    sim.add_collector(COLLECTOR, "soak-products")
    clock = sim_clock(sim)
    ledger = Ledger(stack)
    cfg = factory.settings()
    publisher = FlakyPublisher(factory.publisher(cfg), lambda: rng.random() < 0.1)
    faults: Counter[str] = Counter()
    running: dict[str, str] = {}  # job id -> how it will end: good | low | failed
    failed: set[str] = set()
    counter = 0

    def new_job(outcome: str) -> None:
        nonlocal counter
        counter += 1
        job_id = f"j_soak{counter:04d}"
        sim.add_job(job_id, COLLECTOR, "running", inputs=100, success=10, fails=0, lines=10)
        running[job_id] = outcome

    def finish(job_id: str) -> None:
        outcome = running.pop(job_id)
        if outcome == "failed":
            sim.update_job(job_id, status="failed", success=0, fails=100, finished=clock.now)
            failed.add(job_id)
        elif outcome == "low":
            sim.update_job(job_id, status="done", success=50, fails=50, finished=clock.now)
        else:
            sim.update_job(job_id, status="done", success=100, lines=100, finished=clock.now)

    def one_run(monitor_publisher: Any) -> Any:
        client = fast_client(cfg.api_url, sleep=lambda _: None)
        monitor = make_monitor(
            clock, client=client, publisher=monitor_publisher, ledger=ledger, remaining_ms=None
        )
        return monitor.run()

    started = time.monotonic()
    crashed = 0
    for run in range(RUNS):
        clock.advance(5)
        # Jobs evolve: some finish, new ones start. Early runs lean bad, later runs recover.
        for job_id in [j for j in running if rng.random() < 0.5]:
            finish(job_id)
        bad_share = 0.5 if run < RUNS * 0.7 else 0.05
        for _ in range(rng.randint(0, 2)):
            roll = rng.random()
            new_job("failed" if roll < bad_share / 2 else "low" if roll < bad_share else "good")
        # Faults on a fraction of requests.
        sim.clear_faults()
        for endpoint, kind, params in rng.sample(FAULTS, k=rng.randint(0, 3)):
            times = rng.randint(1, 3)
            sim.inject(endpoint, kind, times=times, **params)
            faults[f"{endpoint}:{kind}"] += times
        try:
            one_run(publisher)
        except Exception:  # a run may fail; the next one must make up for it
            crashed += 1
    assert time.monotonic() - started < TIME_LIMIT_SECONDS

    # Then: no more faults; let every job finish, plus a good one to resolve any open alarm.
    sim.clear_faults()
    while running:
        finish(next(iter(running)))
    clock.advance(5)
    new_job("good")
    finish(next(iter(running)))
    quiet_runs = 0
    for _ in range(10):
        clock.advance(5)
        summary = one_run(factory.publisher(cfg))
        quiet_runs += 1
        if (
            not ledger.collect()
            and summary.live_jobs == 0
            and summary.health == HealthState.HEALTHY.value
        ):
            break
    else:
        raise AssertionError("the monitor did not go quiet after the faults stopped")
    elapsed = time.monotonic() - started

    # Every failed job alerted exactly once; nothing else alerted per job.
    assert ledger.job_alerts() == {("job_failed", job_id): 1 for job_id in failed}
    # The collector alarm alternates ALARM/RESOLVED and ends resolved.
    sequence = ledger.kinds(RULE)
    assert alternates(sequence), sequence
    assert not sequence or (sequence[0], sequence[-1]) == ("ALARM", "RESOLVED"), sequence
    health = ledger.kinds("api_health")
    assert alternates(health), health
    assert not health or (health[0], health[-1]) == ("DEGRADED", "RECOVERED"), health
    assert max(ledger.alert_ids().values(), default=0) == 1
    ledger.verify_delivered()
    store = factory.state_store(cfg)
    alarm = store.get_alarms(COLLECTOR).get(RULE)
    assert alarm is None or alarm.state is AlarmState.OK
    assert_consistent(stack)

    entries = Counter(kind for kind, _, _ in ledger.entries)
    print(
        f"\nSOAK seed={SEED}: {RUNS} faulty runs + {quiet_runs} quiet runs in {elapsed:.1f} s; "
        f"runs failed {crashed}; faults injected {sum(faults.values())} "
        f"({dict(sorted(faults.items()))}); SNS failures {publisher.failures}; "
        f"jobs {counter} ({len(failed)} failed); alerts delivered {len(ledger.messages)} "
        f"(entries {dict(entries)}); {RULE} sequence {sequence}; api_health {health}"
    )
