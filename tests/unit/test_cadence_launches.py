"""`collector_silent` learns a collector's cadence from its launches (jobs created together), not
from its jobs: a collector that starts its jobs in bursts is judged by how often it launches, a
burst does not push its earlier launches out of the history, and the verdict does not depend on
how the history was learned (one listing, or a burst trickling across several runs' listings)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from job_alerts.history import CADENCE_MAX_TIMES, History
from job_alerts.rules import Verdict, judge_collector
from job_alerts.thresholds import Thresholds

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DEFAULTS = Thresholds()

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def bursts(starts: Iterable[datetime], jobs: int) -> list[datetime]:
    """`jobs` jobs per launch, one a second from each start (60 jobs take a minute)."""
    return [start + SECOND * i for start in starts for i in range(jobs)]


def every(gaps: Sequence[timedelta], last: datetime) -> list[datetime]:
    """Launch starts separated by `gaps` (oldest first), the last one at `last`."""
    starts = [last]
    for gap in reversed(gaps):
        starts.append(starts[-1] - gap)
    return sorted(starts)


def learned_from(*listings: Iterable[datetime]) -> History:
    """The history as discovery builds it over successive runs: each run reads the stored item,
    adds what its listing showed and stores the result again."""
    history = History()
    for listing in listings:
        stored = History.from_dict(history.to_dict())
        history = History(created=stored.created).with_created(listing)
    return History.from_dict(history.to_dict())


def silence(history: History, now: datetime) -> Verdict:
    (result,) = judge_collector(history, DEFAULTS, now)
    return result.verdict


# --- the false alarm of issue 19 ------------------------------------------------------------

HOURLY_ISH = [70 * MINUTE, 65 * MINUTE, 75 * MINUTE, 70 * MINUTE]


def test_a_burst_of_sixty_jobs_then_three_quiet_hours_is_not_a_silence() -> None:
    # Given launches of 60 jobs each (all within a minute), roughly every 70 minutes, the last
    # one starting 3 hours ago
    times = bursts(every(HOURLY_ISH, NOW - 3 * HOUR), jobs=60)
    history = learned_from(times)
    # Then its cadence is one launch every 70 minutes (the median of 4 launch intervals), not
    # the ~0 s between the jobs of a burst
    cadence = history.cadence()
    assert cadence is not None
    assert (cadence.interval, cadence.intervals) == (70 * MINUTE, 4)
    assert cadence.last_created == NOW - 3 * HOUR + 59 * SECOND
    # And 3 quiet hours are within 3 x 70 min, so nothing alarms
    assert silence(history, NOW) is Verdict.OK


def test_a_bursty_collector_is_still_silent_once_quiet_for_longer_than_its_launches_allow() -> None:
    history = learned_from(bursts(every(HOURLY_ISH, NOW - 3 * HOUR), jobs=60))
    # When it stays quiet for 4 hours (more than 3 x 70 min after its last job)
    (result,) = judge_collector(history, DEFAULTS, NOW + HOUR)
    # Then it is silent, and the alert says what is usual in launches, not jobs
    assert result.verdict is Verdict.BREACH
    assert result.finding.limit == 210
    assert "(usually every 1 h 10 min)" in result.finding.message


def test_the_burst_seen_half_by_one_run_and_half_by_the_next_gives_the_same_verdict() -> None:
    # Given the earlier launches already learned, and a run that lists the newest burst
    # 30 seconds after it started (half its jobs), then one 5 minutes later (all of them)
    times = bursts(every(HOURLY_ISH, NOW - 3 * HOUR), jobs=60)
    newest = NOW - 3 * HOUR
    earlier = [t for t in times if t < newest]
    half = [t for t in times if t < newest + 30 * SECOND]
    trickled = learned_from(earlier, half, times)
    # Then the history, and so every verdict, is the one a single listing gives
    assert trickled == learned_from(times)
    assert silence(trickled, NOW) is Verdict.OK


def test_a_launch_every_6_hours_of_50_jobs_is_silent_after_20_hours_not_after_3() -> None:
    # Given 5 launches of 50 jobs each, every 6 hours
    history = learned_from(bursts(every([6 * HOUR] * 4, NOW - 3 * HOUR), jobs=50))
    # Then 3 quiet hours are normal for it, and the limit is 3 x 6 h
    assert silence(history, NOW) is Verdict.OK
    (result,) = judge_collector(history, DEFAULTS, NOW + 17 * HOUR)
    assert result.verdict is Verdict.BREACH
    assert result.finding.limit == 18 * 60
    assert "(usually every 6 h)" in result.finding.message


def test_a_burst_does_not_push_earlier_launches_out_of_the_history() -> None:
    # Given 15 launches of 60 jobs each, every 2 hours (900 jobs, far more than the history
    # keeps times of)
    starts = every([2 * HOUR] * 14, NOW - HOUR)
    history = learned_from(bursts(starts, jobs=60))
    # Then it keeps when each launch started, and when the last job was created
    assert history.created == (*starts, NOW - HOUR + 59 * SECOND)
    cadence = history.cadence()
    assert cadence is not None and (cadence.interval, cadence.intervals) == (2 * HOUR, 14)
    # And however many more launches come, it keeps the starts of the most recent ones only
    later = every([2 * HOUR] * 29, NOW + 29 * HOUR)
    longer = learned_from(history.created, bursts(later[15:], jobs=60))
    assert later[:15] == starts
    assert longer.created == (*later[-CADENCE_MAX_TIMES:], NOW + 29 * HOUR + 59 * SECOND)


def test_a_listing_still_showing_part_of_a_launch_let_go_changes_nothing() -> None:
    # Given a launch of two jobs 3 minutes apart, a single job 3 minutes after the second (a
    # launch of its own: 6 minutes after the first), then 20 hourly launches: one more launch
    # than the history keeps, so it has let the first one go
    first = NOW - 30 * HOUR
    times = [first, first + 3 * MINUTE, first + 6 * MINUTE]
    times += [first + 6 * MINUTE + HOUR * i for i in range(1, 21)]
    history = learned_from(times)
    assert history.created[0] == first + 6 * MINUTE
    # When a later listing's lookback starts between the two jobs of the launch let go
    relisted = History(created=history.created).with_created(times[1:])
    # Then the job it still shows is not taken back (grouped from it, the launch would swallow
    # the start of the oldest launch kept)
    assert relisted == history


def test_a_collector_with_fewer_than_three_launch_intervals_is_not_judged() -> None:
    # Given one burst of 60 jobs 3 hours ago (thousands of job intervals, no launch interval),
    # and then three launches (two launch intervals)
    one = learned_from(bursts([NOW - 3 * HOUR], jobs=60))
    three = learned_from(bursts(every([6 * HOUR] * 2, NOW - 30 * HOUR), jobs=60))
    # Then neither is judged, however long ago its last job
    for history in (one, three):
        (result,) = judge_collector(history, DEFAULTS, NOW)
        assert result.verdict is Verdict.UNKNOWN and result.finding is None
    # And a fourth launch is enough
    four = learned_from(three.created, bursts([NOW - 24 * HOUR], jobs=60))
    assert silence(four, NOW) is Verdict.BREACH


# --- items stored before launches: a list of job creation times -----------------------------


def test_an_old_item_of_single_jobs_reads_as_before() -> None:
    # Given an item stored by the previous version: the latest 21 creation times of hourly jobs
    times = [NOW - HOUR * i for i in reversed(range(CADENCE_MAX_TIMES))]
    old = {"created": [t.isoformat().replace("+00:00", "Z") for t in times]}
    # Then it reads as the same times, with the same cadence
    history = History.from_dict(old)
    assert history.created == tuple(times)
    cadence = history.cadence()
    assert cadence is not None and (cadence.interval, cadence.intervals) == (HOUR, 20)


def test_an_old_burst_item_reads_as_one_launch_and_the_next_listing_restores_it() -> None:
    # Given an item stored by the previous version for a bursty collector: its latest 21 job
    # times, all from the last burst of 60
    times = bursts(every(HOURLY_ISH, NOW - 3 * HOUR), jobs=60)
    old = {"created": [t.isoformat() for t in times[-CADENCE_MAX_TIMES:]]}
    stored = History.from_dict(old)
    # Then it reads as one launch: not judged, rather than silent
    assert silence(stored, NOW) is Verdict.UNKNOWN
    # And the next listing (every job of the lookback) gives the history one listing gives
    relearned = History(created=stored.created).with_created(times)
    assert relearned == learned_from(times)
    assert silence(relearned, NOW) is Verdict.OK


# --- properties ----------------------------------------------------------------------------


@st.composite
def creation_times(draw: st.DrawFn) -> list[datetime]:
    """Any pattern of job creations: launches at any gap (close ones too), each of 1 to 60 jobs
    spread over up to 10 minutes, to the second."""
    count = draw(st.integers(min_value=1, max_value=40))
    moment = NOW - 30 * 24 * HOUR
    times: list[datetime] = []
    for _ in range(count):
        close, far = st.integers(1, 10 * 60), st.integers(1, 12 * 3600)
        moment += SECOND * draw(close | far)
        jobs = draw(st.integers(min_value=1, max_value=60))
        spread = draw(st.integers(min_value=0, max_value=600))
        offsets = draw(st.lists(st.integers(0, spread), min_size=jobs, max_size=jobs))
        times.extend(moment + SECOND * offset for offset in offsets)
    return sorted(times)


@st.composite
def listings(draw: st.DrawFn) -> tuple[list[datetime], list[list[datetime]]]:
    """The same creation times, shown by successive runs' listings in the order they were
    created: each run has seen the jobs created up to some moment, and its listing shows either
    every job so far, only the jobs since the previous run, or the jobs of a lookback window
    that moves forward (still covering what is new)."""
    times = draw(creation_times())
    cuts = sorted(draw(st.sets(st.integers(1, len(times)), max_size=8)) | {len(times)})
    shown: list[list[datetime]] = []
    previous, window = 0, 0
    for cut in cuts:
        way = draw(st.sampled_from(["all", "new", "window"]))
        if way == "all":
            shown.append(times[:cut])
        elif way == "new":
            shown.append(times[previous:cut])
        else:
            window = draw(st.integers(window, previous))
            shown.append(times[window:cut])
        previous = cut
    return times, shown


@PROPERTY_SETTINGS
@given(listings(), st.integers(min_value=0, max_value=48 * 3600))
def test_the_history_and_verdict_do_not_depend_on_how_listings_showed_the_jobs(
    shown: tuple[list[datetime], list[list[datetime]]], quiet_seconds: int
) -> None:
    times, runs = shown
    # Given the same creation times learned from one listing, and run by run
    at_once = learned_from(times)
    run_by_run = learned_from(*runs)
    # Then the stored history is the same, and so is every verdict on it
    assert run_by_run.created == at_once.created
    now = times[-1] + SECOND * quiet_seconds
    assert silence(run_by_run, now) is silence(at_once, now)


@PROPERTY_SETTINGS
@given(
    st.lists(st.integers(min_value=10, max_value=24 * 60), min_size=3, max_size=25),
    st.lists(st.integers(min_value=1, max_value=60), min_size=26, max_size=26),
    st.integers(min_value=0, max_value=72 * 60),
)
def test_the_verdict_does_not_depend_on_how_many_jobs_each_launch_starts(
    gaps_minutes: list[int], jobs_per_launch: list[int], quiet_minutes: int
) -> None:
    # Given the same launches, once of one job each and once of 1 to 60 jobs each (all within
    # a minute)
    starts = every([MINUTE * gap for gap in gaps_minutes], NOW)
    single = learned_from(starts)
    burst = learned_from(
        start + SECOND * i
        for start, jobs in zip(starts, jobs_per_launch, strict=False)
        for i in range(jobs)
    )
    # Then both learn the same cadence, and judge a silence after their last job the same
    assert single.cadence() is not None and burst.cadence() is not None
    assert burst.cadence().interval == single.cadence().interval  # type: ignore[union-attr]
    quiet = MINUTE * quiet_minutes
    assert silence(burst, burst.created[-1] + quiet) is silence(single, single.created[-1] + quiet)
