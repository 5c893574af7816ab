"""Monitor runs across several scenarios, over real local servers: the Bright Data simulator and
moto server (DynamoDB, SNS, and an SQS queue subscribed to the topic to read what was delivered).
Each scenario asserts the alerts delivered, the API calls made and the state left behind."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from job_alerts import factory
from job_alerts.models import AlarmState, AlertStatus, HealthState
from job_alerts.monitor import RunSummary
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure, load_event
from tests.integration.faults import BrokenPublisher
from tests.support import (
    COLLECTOR,
    World,
    bad_job,
    collector_world,
    delivered,
    failed_job,
    fast_monitor,
    good_job,
    kinds,
    load_function,
    make_monitor,
)

pytestmark = pytest.mark.integration

# Collector thresholds a failed job cannot breach, so only the job-level rules speak.
JOB_RULES_ONLY = {"MAX_FAILS": "100", "MIN_SUCCESS_RATE": "0", "MIN_LINES": "0"}


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    return collector_world(simulator, stack)


def test_monitor_collector_alarm_once_then_silent_then_resolved(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100")  # judge the success rate alone
    # Given a healthy job, When the monitor runs, Then nothing is sent
    good_job(sim, "j_good1")
    make_monitor(clock).run()
    assert delivered(stack) == []

    # Given a job with 40% success, When the monitor runs, Then exactly one ALARM is sent
    clock.advance(5)
    bad_job(sim, "j_bad1")
    summary = make_monitor(clock).run()
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [[("ALARM", "success_rate_below_min")]]
    assert messages[0]["attributes"]["severity"] == "critical"
    assert messages[0]["attributes"]["state"] == "ALARM"
    assert messages[0]["doc"]["entries"][0]["job_ids"] == ["j_bad1"]
    assert summary.alerts_sent == 1

    # Given another bad job, When the monitor runs, Then nothing more is sent (still in ALARM)
    clock.advance(5)
    bad_job(sim, "j_bad2", success=30)
    make_monitor(clock).run()
    assert delivered(stack) == []
    alarm = factory.state_store(factory.settings()).get_alarms(COLLECTOR)["success_rate_below_min"]
    assert alarm.state is AlarmState.ALARM

    # Given a good job, When the monitor runs, Then one RESOLVED says how long it lasted
    clock.advance(20)
    good_job(sim, "j_good2")
    make_monitor(clock).run()
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [[("RESOLVED", "success_rate_below_min")]]
    assert messages[0]["doc"]["entries"][0]["duration_s"] == pytest.approx(25 * 60)
    assert messages[0]["attributes"]["state"] == "RESOLVED"


def test_monitor_reminder_while_alarm_stays_open(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100", REPEAT_AFTER_MINUTES="60")
    bad_job(sim, "j_bad1")
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("ALARM", "success_rate_below_min")]]

    # When runs continue inside the repeat interval, Then nothing is sent
    clock.advance(30)
    make_monitor(clock).run()
    assert delivered(stack) == []

    # When the interval has passed, Then exactly one reminder, and not again on the next run
    clock.advance(31)
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("REMINDER", "success_rate_below_min")]]
    clock.advance(5)
    make_monitor(clock).run()
    assert delivered(stack) == []


def test_monitor_m_of_n_needs_enough_breaches(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100", ALARM_AFTER="2", ALARM_WINDOW="3")
    bad_job(sim, "j_bad1")
    make_monitor(clock).run()
    assert delivered(stack) == []  # 1 of 3: not yet

    clock.advance(5)
    good_job(sim, "j_good1")
    make_monitor(clock).run()
    assert delivered(stack) == []

    clock.advance(5)
    bad_job(sim, "j_bad2")
    make_monitor(clock).run()
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [[("ALARM", "success_rate_below_min")]]
    assert sorted(messages[0]["doc"]["entries"][0]["job_ids"]) == ["j_bad1", "j_bad2"]


def test_monitor_failed_job_alerted_once(world, configure) -> None:
    sim, stack, clock = world
    configure(**JOB_RULES_ONLY)
    failed_job(sim, "j_fail1")
    make_monitor(clock).run()
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [[("JOB", "job_failed")]]
    assert messages[0]["subject"].startswith("[CRITICAL]")

    # The settled job is never read again: zero further /dca/log calls, nothing sent.
    sim.reset_counts()
    for _ in range(2):
        clock.advance(5)
        make_monitor(clock).run()
    assert sim.count("log") == 0
    assert delivered(stack) == []


def test_monitor_every_job_mode_alerts_each_breaching_job_once(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100", ALERT_MODE="every_job")
    bad_job(sim, "j_bad1")
    make_monitor(clock).run()
    clock.advance(5)
    bad_job(sim, "j_bad2")
    make_monitor(clock).run()
    clock.advance(5)
    make_monitor(clock).run()
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [
        [("JOB", "success_rate_below_min")],
        [("JOB", "success_rate_below_min")],
    ]
    assert [m["doc"]["entries"][0]["job_ids"] for m in messages] == [["j_bad1"], ["j_bad2"]]


def test_monitor_live_job_read_each_run_until_settled(world) -> None:
    sim, stack, clock = world
    sim.add_job("j_run1", COLLECTOR, "running", inputs=100, success=10, fails=0, lines=10)
    make_monitor(clock).run()
    clock.advance(5)
    make_monitor(clock).run()
    assert sim.count("log", job_id="j_run1") == 2

    sim.update_job("j_run1", status="done", success=100, lines=100, finished=clock.now)
    clock.advance(5)
    summary = make_monitor(clock).run()
    assert summary.jobs_settled == 1
    clock.advance(5)
    make_monitor(clock).run()
    assert sim.count("log", job_id="j_run1") == 3  # live, live, settling read; then never again
    assert delivered(stack) == []


def test_monitor_unchanged_run_writes_nothing(world) -> None:
    sim, stack, clock = world
    sim.add_job("j_run1", COLLECTOR, "running", inputs=100, success=10, fails=0, lines=10)
    make_monitor(clock).run()
    clock.advance(5)
    summary = make_monitor(clock).run()
    assert summary.jobs_read == 1
    assert summary.state_ops["writes"] == 0


def test_monitor_token_rejected_one_degraded_alert_no_job_alerts(world) -> None:
    sim, stack, clock = world
    failed_job(sim, "j_fail1")
    sim.inject("*", "unauthorized", times=None)
    summary = make_monitor(clock).run()
    assert summary.health == HealthState.TOKEN_REJECTED.value
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [[("DEGRADED", "api_health")]]
    assert "token rejected" in messages[0]["doc"]["entries"][0]["message"]

    # Still rejected: no second alert.
    clock.advance(5)
    make_monitor(clock).run()
    assert delivered(stack) == []

    # Token fixed: one RECOVERED, and the job alert is now sent from real data.
    sim.clear_faults()
    clock.advance(5)
    make_monitor(clock).run()
    sent = sorted(k for m in delivered(stack) for k in kinds(m))
    assert ("RECOVERED", "api_health") in sent
    assert ("JOB", "job_failed") in sent


def test_monitor_401_on_reads_keeps_jobs_live(world) -> None:
    sim, stack, clock = world
    failed_job(sim, "j_fail1")
    make_monitor(clock).run()  # discovered and alerted
    delivered(stack)
    clock.advance(5)
    failed_job(sim, "j_fail2")
    failed_job(sim, "j_fail3")
    # Every read answers 401, none is accepted (one alone, with the listing accepted, would be a
    # job the token cannot see: tests/integration/test_never_lost.py)
    sim.inject("log", "unauthorized", times=None)
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("DEGRADED", "api_health")]]
    live = [r.job_id for r in factory.state_store(factory.settings()).live_jobs()]
    assert live == ["j_fail2", "j_fail3"]


def test_monitor_api_unreachable_is_one_alert(world) -> None:
    sim, stack, clock = world
    for n in range(4):
        sim.add_job(f"j_run{n}", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    make_monitor(clock).run()
    sim.inject("log", "status", times=None, code=500)
    clock.advance(5)
    summary = fast_monitor(clock).run()  # test-sized retries: every read gives up quickly
    assert summary.health == HealthState.API_UNREACHABLE.value
    assert [kinds(m) for m in delivered(stack)] == [[("DEGRADED", "api_health")]]


def test_monitor_publish_failure_delivered_next_run(world, configure) -> None:
    sim, stack, clock = world
    configure(**JOB_RULES_ONLY)
    failed_job(sim, "j_fail1")
    summary = make_monitor(clock, publisher=BrokenPublisher()).run()
    assert summary.alerts_failed == 1
    assert delivered(stack) == []
    history = factory.state_store(factory.settings()).history()
    assert [r.status for r in history] == [AlertStatus.PENDING]

    clock.advance(5)
    summary = make_monitor(clock).run()
    messages = delivered(stack)
    assert [kinds(m) for m in messages] == [[("JOB", "job_failed")]]
    assert summary.alerts_sent == 1
    clock.advance(5)
    make_monitor(clock).run()
    assert delivered(stack) == []
    history = factory.state_store(factory.settings()).history()
    assert [r.status for r in history] == [AlertStatus.SENT]


def test_monitor_publish_failure_via_real_sns_error(world, configure, stack) -> None:
    sim, _, clock = world
    configure(**JOB_RULES_ONLY)
    failed_job(sim, "j_fail1")
    # A topic that does not exist: SNS itself answers with an error.
    configure(TOPIC_ARN=stack.topic_arn + "-missing")
    summary = make_monitor(clock).run()
    assert summary.alerts_failed == 1
    configure(TOPIC_ARN=stack.topic_arn)
    clock.advance(5)
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("JOB", "job_failed")]]


def test_monitor_overlapping_runs_never_duplicate(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="100")
    for n in range(6):
        failed_job(sim, f"j_fail{n}")
    bad_job(sim, "j_bad1")
    sim.latency = 0.02  # make the two runs' reads interleave
    summaries: list[RunSummary] = []

    def one_run() -> None:
        summaries.append(make_monitor(clock).run())

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sim.latency = 0
    clock.advance(15)  # past any lease: a third run publishes whatever is still owed
    make_monitor(clock).run()
    entries = [k for m in delivered(stack) for k in kinds(m)]
    job_alerts = [k for k in entries if k == ("JOB", "job_failed")]
    alarms = [k for k in entries if k[0] == "ALARM"]
    assert len(job_alerts) == 6
    assert alarms.count(("ALARM", "success_rate_below_min")) == 1
    assert len(entries) == len(set(entries)) + 5  # only the six distinct job alerts repeat a kind


def test_monitor_deadline_leaves_rest_for_next_run(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_CONCURRENCY="2")
    for n in range(10):
        sim.add_job(f"j_run{n:02d}", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    make_monitor(clock).run()  # all ten are now live
    sim.reset_counts()

    budget = {"reads": 0}

    def remaining_ms() -> int:
        # Each check is a step closer to the deadline: plenty for the first few reads only.
        budget["reads"] += 1
        return 60_000 if budget["reads"] <= 4 else 1_000

    clock.advance(5)
    summary = make_monitor(clock, remaining_ms=remaining_ms).run()
    assert 0 < summary.jobs_read < 10
    assert summary.jobs_deferred == 10 - summary.jobs_read
    first = {r.job_id for r in sim.requests if r.endpoint == "log"}

    sim.reset_counts()
    clock.advance(5)
    configure(MAX_CONCURRENCY="1")  # one read at a time, so the served order is the read order
    make_monitor(clock).run()
    second = [r.job_id for r in sim.requests if r.endpoint == "log"]
    # The next run starts with the jobs the cut-short run did not reach.
    unread = {f"j_run{n:02d}" for n in range(10)} - first
    assert set(second[: len(unread)]) == unread


def test_monitor_expired_job_is_forgotten(world) -> None:
    sim, stack, clock = world
    sim.add_job("j_run1", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    make_monitor(clock).run()
    sim.remove_job("j_run1")
    # One 404 may be a glitch: the job expires on the third, 30 minutes after the first.
    expired = []
    for _ in range(3):
        clock.advance(15)
        expired.append(make_monitor(clock).run().jobs_expired)
    assert expired == [0, 0, 1]
    sim.reset_counts()
    clock.advance(5)
    make_monitor(clock).run()
    assert sim.count("log") == 0


def test_monitor_silenced_collector_records_suppressed(world) -> None:
    from job_alerts.models import Silence

    sim, stack, clock = world
    store = factory.state_store(factory.settings())
    store.silence(Silence(COLLECTOR, clock.now + timedelta(hours=2), "maintenance"))
    failed_job(sim, "j_fail1")
    summary = make_monitor(clock).run()
    assert summary.alerts_suppressed == 1
    assert delivered(stack) == []
    [record] = store.history()
    assert record.status is AlertStatus.SUPPRESSED
    assert "maintenance" in (record.suppressed_reason or "")


def test_monitor_quiet_run_lists_no_jobs(world) -> None:
    sim, stack, clock = world
    good_job(sim, "j_good1")
    make_monitor(clock).run()
    sim.reset_counts()
    clock.advance(5)
    make_monitor(clock).run()
    # Nothing started since: one collectors_list, no job listing, no log reads.
    assert sim.count("collectors_list") == 1
    assert sim.count("collector_jobs") == 0
    assert sim.count("log") == 0


def test_monitor_scheduled_event_through_handler(world, lambda_context) -> None:
    sim, stack, clock = world
    failed_job(sim, "j_fail1")
    app = load_function("monitor")
    result = app.handler(load_event("scheduled.json"), lambda_context)
    assert result["jobs_read"] == 1
    assert any(("JOB", "job_failed") in kinds(m) for m in delivered(stack))


def test_monitor_running_breaching_job_writes_nothing_when_unchanged(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="0")
    # Given a running job already over MAX_FAILS (an ALARM is raised once)
    sim.add_job("j_run1", COLLECTOR, "running", inputs=100, success=10, fails=5, lines=10)
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("ALARM", "fails_above_max")]]
    # When it is read again unchanged, Then nothing is written and nothing sent
    clock.advance(5)
    summary = make_monitor(clock).run()
    assert summary.jobs_read == 1
    assert summary.state_ops["writes"] == 0
    assert delivered(stack) == []


def test_monitor_old_running_job_does_not_flap_the_alarm(world, configure) -> None:
    sim, stack, clock = world
    configure(MAX_FAILS="0")
    # Given an older job still running and breaching, and a newer job that settles fine
    sim.add_job("j_old", COLLECTOR, "running", inputs=100, success=10, fails=5, lines=10)
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("ALARM", "fails_above_max")]]
    clock.advance(5)
    good_job(sim, "j_new")
    make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("RESOLVED", "fails_above_max")]]
    # When the old job is read again, still breaching, Then the alarm does not reopen
    for _ in range(2):
        clock.advance(5)
        make_monitor(clock).run()
    assert delivered(stack) == []


def test_monitor_dry_run_judges_new_jobs_without_recording(world, configure) -> None:
    sim, stack, clock = world
    configure(**JOB_RULES_ONLY)
    failed_job(sim, "j_fail1")
    summary = make_monitor(clock).run(dry_run=True)
    assert [e["rule"] for d in summary.alerts_planned for e in d["entries"]] == ["job_failed"]
    assert summary.state_ops["writes"] == 0
    assert delivered(stack) == []
    # The real run afterwards still finds, records and sends it
    summary = make_monitor(clock).run()
    assert [kinds(m) for m in delivered(stack)] == [[("JOB", "job_failed")]]


def test_monitor_relisting_looks_up_only_recent_jobs(world) -> None:
    sim, stack, clock = world
    # Given a collector with 30 jobs queued hours ago, all recorded by a first run
    for n in range(30):
        sim.add_job(
            f"j_old{n:02d}",
            COLLECTOR,
            "done",
            created=clock.now - timedelta(hours=3),
            inputs=10,
            success=10,
            fails=0,
            lines=10,
        )
    make_monitor(clock).run()
    # When a new job starts 10 minutes later (last_run changes, so the collector is listed)
    clock.advance(10)
    sim.add_job("j_new", COLLECTOR, "running", inputs=10, success=1, fails=0, lines=1)
    monitor = make_monitor(clock)
    looked_up: list[str] = []
    original = monitor.store.get_jobs

    def spy(job_ids):
        ids = list(job_ids)
        looked_up.extend(ids)
        return original(ids)

    monitor.store.get_jobs = spy
    monitor.run()
    # Then only the new job is looked up in the table, not the 30 seen before
    assert looked_up == ["j_new"]
    assert [r.job_id for r in monitor.store.live_jobs()] == ["j_new"]
    # And the periodic full pass looks at every listed job again
    clock.advance(31)
    sim.advance("j_new")
    looked_up.clear()
    full = make_monitor(clock)
    full.store.get_jobs = spy
    full.run()
    assert len(looked_up) == 31


def test_monitor_many_failed_jobs_split_into_transaction_sized_alerts(world, configure) -> None:
    sim, stack, clock = world
    configure(**JOB_RULES_ONLY)
    # Given more failed jobs in one collector than one DynamoDB transaction can claim
    # (a first deployment looking back over two busy days)
    for n in range(120):
        failed_job(sim, f"j_fail{n:03d}")
    # When the monitor runs
    summary = make_monitor(clock).run()
    # Then every job is alerted exactly once, over more than one message
    messages = delivered(stack)
    alerted = [job for m in messages for e in m["doc"]["entries"] for job in e["job_ids"]]
    assert len(messages) == 2
    assert sorted(alerted) == [f"j_fail{n:03d}" for n in range(120)]
    assert summary.jobs_settled == 120
    # And nothing more on the next run
    clock.advance(5)
    make_monitor(clock).run()
    assert delivered(stack) == []


def test_monitor_busy_collector_still_gets_full_passes(world) -> None:
    sim, stack, clock = world
    good_job(sim, "j_first")
    make_monitor(clock).run()
    # Given a job that shows up in listings late, with a queued time hours old
    sim.add_job(
        "j_late",
        COLLECTOR,
        "done",
        created=clock.now - timedelta(hours=3),
        inputs=10,
        success=10,
        fails=0,
        lines=10,
    )
    # When the collector starts a new job every run (so it is listed every run)
    reads_of_late = []
    for n in range(7):
        clock.advance(5)
        good_job(sim, f"j_busy{n}")
        make_monitor(clock).run()
        reads_of_late.append(sim.count("log", job_id="j_late"))
    # Then the late job is not looked up on ordinary listings, but the 30-minute full pass
    # finds it and it is read exactly once
    assert reads_of_late[:5] == [0, 0, 0, 0, 0]
    assert reads_of_late[-1] == 1
