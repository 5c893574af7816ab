"""A collector judged against its own past, over real local servers (the Bright Data simulator and
moto server): a collector that stopped starting jobs alarms and resolves, a steady one never
does, nor one that starts its jobs in bursts (judged by how often it launches them); a job far
below the collector's usual output warns once, a steady collector never does. The history these
rules need survives between runs in the state table."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from job_alerts import cli, factory
from job_alerts.models import AlarmState
from local.clock import ManualClock
from local.simulator import BrightDataSimulator
from local.stack import LocalStack
from tests.conftest import Configure
from tests.support import COLLECTOR, World, collector_world, delivered, kinds, make_monitor

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@pytest.fixture
def world(configure: Configure, simulator: BrightDataSimulator, stack: LocalStack) -> World:
    return collector_world(simulator, stack)


def done_job(
    sim: BrightDataSimulator,
    job_id: str,
    created: datetime,
    lines: int = 1000,
    took: timedelta = timedelta(minutes=10),
) -> None:
    """A healthy settled job of COLLECTOR, created at `created`, that returned `lines`."""
    sim.add_job(
        job_id,
        COLLECTOR,
        "done",
        inputs=100,
        success=100,
        fails=0,
        lines=lines,
        created=created,
        started=created,
        finished=created + took,
    )


def hourly_until(sim: BrightDataSimulator, last: datetime, count: int = 10) -> None:
    for i in range(count):
        done_job(sim, f"j_h{i:02d}", last - HOUR * (count - 1 - i))


def launch(sim: BrightDataSimulator, name: str, started: datetime, jobs: int = 60) -> None:
    """One launch of COLLECTOR: `jobs` jobs created one a second from `started` (60 take a
    minute), each settled 3 minutes after it was created."""
    for i in range(jobs):
        done_job(
            sim, f"j_{name}_{i:02d}", started + timedelta(seconds=i), took=timedelta(minutes=3)
        )


def runs_every_ten_minutes(
    clock: ManualClock, stack: LocalStack, runs: int
) -> list[tuple[datetime, str, str, str]]:
    """`runs` monitor runs 10 minutes apart, the first 10 minutes from now: each entry they
    delivered, as (the run's time, kind, rule, message)."""
    said = []
    for _ in range(runs):
        clock.advance(10)
        make_monitor(clock).run()
        said += [
            (clock(), entry["kind"], entry["rule"], entry["message"])
            for message in delivered(stack)
            for entry in message["doc"]["entries"]
        ]
    return said


# --- dead collector --------------------------------------------------------------------------


def test_a_collector_that_stopped_eight_hours_ago_alarms_at_once_and_resolves_on_a_new_job(
    world: World,
) -> None:
    sim, stack, clock = world
    # Given hourly jobs that stopped 8 hours ago, and a monitor that never saw this collector
    hourly_until(sim, clock() - 8 * HOUR)
    # When the monitor runs for the first time
    make_monitor(clock).run()
    # Then one ALARM says since when the collector is silent and what is usual for it
    (message,) = delivered(stack)
    assert kinds(message) == [("ALARM", "collector_silent")]
    entry = message["doc"]["entries"][0]
    assert "no job since" in entry["message"] and "(usually every 1 h)" in entry["message"]
    assert message["attributes"]["severity"] == "critical"

    # When it runs again with nothing new, Then nothing more is said, and no job is listed again
    clock.advance(5)
    summary = make_monitor(clock).run()
    assert delivered(stack) == []
    assert summary.api_calls["requests"] == {"/dca/collectors_list": 1}
    alarms = factory.state_store(factory.settings()).get_alarms(COLLECTOR)
    assert alarms["collector_silent"].state is AlarmState.ALARM

    # When the collector starts a job again, Then the alarm resolves on the next run
    clock.advance(5)
    sim.add_job("j_back", COLLECTOR, "running", inputs=100, created=clock(), started=clock())
    make_monitor(clock).run()
    (message,) = delivered(stack)
    assert kinds(message) == [("RESOLVED", "collector_silent")]
    assert message["doc"]["entries"][0]["duration_s"] == pytest.approx(10 * 60)


def test_a_steady_hourly_collector_never_alarms(world: World) -> None:
    sim, stack, clock = world
    hourly_until(sim, clock() - timedelta(minutes=30))
    for hour in range(6):
        make_monitor(clock).run()
        assert delivered(stack) == [], f"run {hour}"
        clock.advance(60)
        done_job(sim, f"j_next{hour}", clock() - timedelta(minutes=30))


def test_a_collector_with_too_few_jobs_is_not_judged_but_an_explicit_limit_is(
    world: World, configure: Configure, tmp_path
) -> None:
    sim, stack, clock = world
    # Given two jobs, the last 8 hours ago: too few to learn a cadence from
    done_job(sim, "j_a", clock() - 9 * HOUR)
    done_job(sim, "j_b", clock() - 8 * HOUR)
    make_monitor(clock).run()
    assert delivered(stack) == []
    # When the collector has an explicit limit of 2 hours in the override document
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"collectors": {COLLECTOR: {"max_silence_minutes": 120}}}))
    configure(THRESHOLDS_FILE=str(overrides))
    clock.advance(5)
    make_monitor(clock).run()
    # Then it is judged against that limit
    assert [kinds(m) for m in delivered(stack)] == [[("ALARM", "collector_silent")]]


@pytest.mark.parametrize("learned", ["run by run", "by the first run"])
def test_a_collector_that_launches_its_jobs_in_bursts_is_silent_only_after_three_launch_intervals(
    world: World, learned: str
) -> None:
    """Issue 19 defect 6, as deployed: 60 jobs created within a minute, then none for 3 hours,
    alarmed on the 60-minute floor because the cadence was learned from jobs one second apart."""
    sim, stack, clock = world
    # Given a collector that launches 60 jobs within a minute every 70 minutes: five launches,
    # listed by a monitor running every 10 minutes, or all at once by its first run
    said = []
    if learned == "run by run":
        for number in range(5):
            launch(sim, f"l{number}", clock() + timedelta(minutes=5))
            said += runs_every_ten_minutes(clock, stack, 7)
    else:
        for number in range(5):
            launch(sim, f"l{number}", clock() + timedelta(minutes=5 - 70 * (4 - number)))
        said += runs_every_ten_minutes(clock, stack, 7)
    assert said == []
    # When it launches again, 70 minutes after the fifth launch, and then nothing
    started = clock() + timedelta(minutes=5)
    launch(sim, "l5", started)
    # Then no run in the next 3 hours alarms: 3 x 70 min are allowed (launches count, not jobs)
    assert runs_every_ten_minutes(clock, stack, 19) == []
    # And the next 90 minutes of runs (till 4 h 35 min after it) alarm once, at the first run past
    # those 3 h 30 min since its last job
    ((at, kind, rule, message),) = runs_every_ten_minutes(clock, stack, 9)
    assert (kind, rule) == ("ALARM", "collector_silent")
    assert "(usually every 1 h 10 min)" in message
    allowed_until = started + timedelta(seconds=59) + timedelta(minutes=210)
    assert allowed_until < at <= allowed_until + timedelta(minutes=10)


# --- baseline --------------------------------------------------------------------------------


def test_a_job_with_a_fifth_of_the_usual_output_warns_once(world: World) -> None:
    sim, stack, clock = world
    # Given 8 settled jobs of about 1000 lines: the first run learns them as the baseline
    for i, lines in enumerate([1000, 980, 1020, 990, 1010, 1000, 995, 1005]):
        done_job(sim, f"j_s{i}", clock() - HOUR * (8 - i), lines=lines)
    make_monitor(clock).run()
    assert delivered(stack) == []
    # When a new job returns a fifth of that (its baseline comes from the table: the earlier
    # jobs are settled and are not read again)
    clock.advance(30)
    done_job(sim, "j_low", clock() - timedelta(minutes=20), lines=200)
    summary = make_monitor(clock).run()
    assert summary.jobs_read == 1
    # Then one warning names the observed output, the median and the jobs it came from
    (message,) = delivered(stack)
    assert kinds(message) == [("JOB", "output_below_baseline")]
    entry = message["doc"]["entries"][0]
    assert entry["observed"] == 200
    assert "median of 1,000 over its last 8 settled jobs" in entry["message"]
    assert "j_s7" in entry["message"]
    # And it is not repeated
    for _ in range(3):
        clock.advance(5)
        make_monitor(clock).run()
        assert delivered(stack) == []


def test_a_steady_collector_never_warns_on_its_baseline(world: World) -> None:
    sim, stack, clock = world
    sizes = [1000, 700, 1300, 900, 1100, 800, 1200, 950, 1050, 600, 1000, 1150]
    for i, lines in enumerate(sizes):
        done_job(sim, f"j_v{i}", clock() - timedelta(minutes=10), lines=lines)
        make_monitor(clock).run()
        assert delivered(stack) == [], f"job {i}"
        clock.advance(60)


# --- what the operator sees ------------------------------------------------------------------


def test_thresholds_for_a_collector_show_its_learned_cadence_and_baseline(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim, stack, clock = world
    for i, lines in enumerate([1000, 980, 1020, 990, 1010, 1000]):
        done_job(sim, f"j_s{i}", clock() - HOUR * (6 - i), lines=lines)
    make_monitor(clock).run()
    # The CLI reads its own environment: the table the monitor wrote to
    monkeypatch.setenv("TABLE_NAME", stack.table_name)
    assert cli.main(["thresholds", "--collector", COLLECTOR, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["learned"]
    assert found["cadence"]["interval_minutes"] == 60 and found["cadence"]["intervals"] == 5
    assert found["silent_after_minutes"] == 180
    assert found["baseline"]["median_lines"] == 1000
    assert found["baseline"]["warns_below_lines"] == 500
    assert found["baseline"]["jobs"] == [f"j_s{i}" for i in range(6)]
    assert cli.main(["thresholds", "--collector", COLLECTOR]) == 0
    text = capsys.readouterr().out
    assert "a launch every 1 h (median of 5 intervals between launches;" in text
    assert "median 1,000 lines over 6 settled jobs; warns below 500 lines" in text
    # A collector it has never seen: nothing learned yet, and it says what is missing
    assert cli.main(["thresholds", "--collector", "c_unseen"]) == 0
    text = capsys.readouterr().out
    assert "not learned yet (0 of 3 intervals between launches)" in text
    assert "not judged yet (0 of 5 settled jobs)" in text
