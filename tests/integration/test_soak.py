"""Soak: 50 consecutive monitor runs over the simulator with seeded random faults (5xx, resets,
429, latency, malformed bodies, SNS failures) while jobs come and go, then fault-free runs until
quiet. Every owed alert must arrive exactly once. Runs only in `make soak` (pytest -m soak)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from job_alerts import factory
from job_alerts.models import AlarmState, HealthState
from job_alerts.monitor import RunSummary
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure
from tests.integration.faults import FlakyPublisher
from tests.support import (
    Ledger,
    alternates,
    assert_consistent,
    fast_client,
    fast_monitor,
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


@dataclass
class SoakJobs:
    """The soak's jobs on the simulator, and how each running one will end."""

    sim: BrightDataSimulator
    clock: ManualClock
    running: dict[str, str] = field(default_factory=dict)  # job id -> good | low | failed
    failed: set[str] = field(default_factory=set)
    started: int = 0

    def start(self, outcome: str) -> None:
        self.started += 1
        job_id = f"j_soak{self.started:04d}"
        self.sim.add_job(job_id, COLLECTOR, "running", inputs=100, success=10, fails=0, lines=10)
        self.running[job_id] = outcome

    def finish(self, job_id: str) -> None:
        outcome = self.running.pop(job_id)
        now = self.clock.now
        if outcome == "failed":
            self.sim.update_job(job_id, status="failed", success=0, fails=100, finished=now)
            self.failed.add(job_id)
        elif outcome == "low":
            self.sim.update_job(job_id, status="done", success=50, fails=50, finished=now)
        else:
            self.sim.update_job(job_id, status="done", success=100, lines=100, finished=now)

    def evolve(self, rng: random.Random, run: int) -> None:
        """Some jobs finish, new ones start. Early runs lean bad, later runs recover."""
        for job_id in [j for j in self.running if rng.random() < 0.5]:
            self.finish(job_id)
        bad_share = 0.5 if run < RUNS * 0.7 else 0.05
        for _ in range(rng.randint(0, 2)):
            roll = rng.random()
            self.start("failed" if roll < bad_share / 2 else "low" if roll < bad_share else "good")


def inject_random_faults(
    sim: BrightDataSimulator, rng: random.Random, injected: Counter[str]
) -> None:
    """Replaces the simulator's faults with up to three drawn from FAULTS, counted in
    `injected`."""
    sim.clear_faults()
    for endpoint, kind, params in rng.sample(FAULTS, k=rng.randint(0, 3)):
        times = rng.randint(1, 3)
        sim.inject(endpoint, kind, times=times, **params)
        injected[f"{endpoint}:{kind}"] += times


def runs_until_quiet(clock: ManualClock, run: Callable[[], RunSummary], ledger: Ledger) -> int:
    """Runs until one publishes nothing, tracks no job and is healthy; the number of runs."""
    for quiet_runs in range(1, 11):
        clock.advance(5)
        summary = run()
        if (
            not ledger.collect()
            and summary.live_jobs == 0
            and summary.health == HealthState.HEALTHY.value
        ):
            return quiet_runs
    raise AssertionError("the monitor did not go quiet after the faults stopped")


def assert_pairs_up(sequence: list[str], opening: str, closing: str) -> None:
    """Kinds alternate, starting with `opening` and ending with `closing`, or none at all."""
    assert alternates(sequence), sequence
    assert not sequence or (sequence[0], sequence[-1]) == (opening, closing), sequence


def test_soak_random_faults_every_alert_once(
    request: pytest.FixtureRequest,
    configure: Configure,
    simulator: BrightDataSimulator,
    stack: LocalStack,
) -> None:
    if "soak" not in (request.config.getoption("-m") or ""):
        pytest.skip("runs in make soak")
    rng = random.Random(SEED)
    cfg = configure(
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
    publisher = FlakyPublisher(factory.publisher(cfg), lambda: rng.random() < 0.1)
    faults: Counter[str] = Counter()
    jobs = SoakJobs(sim, clock)

    def one_run(monitor_publisher: Any) -> RunSummary:
        client = fast_client(cfg.api_url, sleep=lambda _: None)
        monitor = fast_monitor(
            clock, client=client, publisher=monitor_publisher, ledger=ledger, remaining_ms=None
        )
        return monitor.run()

    started = time.monotonic()
    crashed = 0
    for run in range(RUNS):
        clock.advance(5)
        jobs.evolve(rng, run)
        inject_random_faults(sim, rng, faults)  # on a fraction of requests
        try:
            one_run(publisher)
        except Exception:  # a run may fail; the next one must make up for it
            crashed += 1
    assert time.monotonic() - started < TIME_LIMIT_SECONDS

    # Then: no more faults; let every job finish, plus a good one to resolve any open alarm.
    sim.clear_faults()
    while jobs.running:
        jobs.finish(next(iter(jobs.running)))
    clock.advance(5)
    jobs.start("good")
    jobs.finish(next(iter(jobs.running)))
    quiet_runs = runs_until_quiet(clock, lambda: one_run(factory.publisher(cfg)), ledger)
    elapsed = time.monotonic() - started

    # Every failed job alerted exactly once; every job alert (a job far below the collector's
    # median output, too) at most once; no other job rule spoke.
    job_alerts = ledger.job_alerts()
    failed = {key: count for key, count in job_alerts.items() if key[0] == "job_failed"}
    assert failed == {("job_failed", job_id): 1 for job_id in jobs.failed}
    assert set(job_alerts.values()) <= {1}
    assert {rule for rule, _ in job_alerts} <= {"job_failed", "output_below_baseline"}
    # The collector alarm alternates ALARM/RESOLVED and ends resolved.
    sequence = ledger.kinds(RULE)
    assert_pairs_up(sequence, "ALARM", "RESOLVED")
    health = ledger.kinds("api_health")
    assert_pairs_up(health, "DEGRADED", "RECOVERED")
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
        f"jobs {jobs.started} ({len(jobs.failed)} failed); alerts delivered "
        f"{len(ledger.messages)} (entries {dict(entries)}); {RULE} sequence {sequence}; "
        f"api_health {health}"
    )
