"""The rules that judge a collector against its own past, with no server: what a collector's
history remembers, `collector_silent` (a collector that stopped starting jobs) and
`output_below_baseline` (a job far below the collector's median output), through judge, the
judge stage and the decide stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts.alerts import AlertKind
from job_alerts.config import AlertMode, Settings
from job_alerts.decide import decide_collector, judge_activity, judge_jobs
from job_alerts.history import (
    BASELINE_MAX_JOBS,
    CADENCE_MAX_TIMES,
    History,
    PastJob,
    learned,
)
from job_alerts.joblog import JobLog, parse_job_log
from job_alerts.models import AlarmClaim, AlarmState, JobRecord, RuleAlarm
from job_alerts.rules import Rule, Verdict, judge, judge_collector
from job_alerts.thresholds import Thresholds

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CID = "c_shop"
DEFAULTS = Thresholds()


def hourly(last: datetime, count: int = 10) -> History:
    """A collector that started a job every hour, the last one at `last`."""
    return History(created=tuple(last - HOUR * i for i in reversed(range(count))))


def steady(lines: int = 1000, count: int = 10) -> History:
    return History(settled=tuple(PastJob(f"j_past{i}", lines) for i in range(count)))


def settled_job(job_id: str = "j_new", lines: int | None = 200, **extra: Any) -> JobLog:
    payload: dict[str, Any] = {
        "Id": job_id,
        "Collector": CID,
        "Status": "done",
        "Inputs": 10,
        "Success": 10,
        "Fails": 0,
        "Lines": lines,
        "created": (NOW - HOUR).isoformat(),
        "started": (NOW - HOUR).isoformat(),
        "finished": (NOW - timedelta(minutes=5)).isoformat(),
        **extra,
    }
    return parse_job_log(payload)


def result_for(rule: Rule, results: list[Any]) -> Any:
    return next(result for result in results if result.rule is rule)


# --- History ---------------------------------------------------------------------------------


def test_history_cadence_is_the_median_gap_and_needs_three_gaps() -> None:
    # Given jobs every hour with one odd 10-hour gap among them
    times = [NOW - HOUR * 14, NOW - HOUR * 4, NOW - HOUR * 3, NOW - HOUR * 2, NOW - HOUR]
    cadence = History(created=tuple(times)).cadence()
    # Then the cadence is the median gap (robust to the odd one), with the last creation
    assert cadence is not None
    assert (cadence.interval, cadence.last_created, cadence.intervals) == (HOUR, NOW - HOUR, 4)
    # And three job times (two gaps) are too few to learn from
    assert History(created=tuple(times[-3:])).cadence() is None


def test_history_with_created_merges_sorts_dedups_and_bounds() -> None:
    history = History().with_created([NOW, NOW - HOUR, NOW])
    assert history.created == (NOW - HOUR, NOW)
    many = history.with_created(NOW - HOUR * i for i in range(100))
    assert len(many.created) == CADENCE_MAX_TIMES
    assert many.created[-1] == NOW and list(many.created) == sorted(many.created)


def test_history_with_settled_adds_a_job_once_and_keeps_the_most_recent() -> None:
    history = History().with_settled(PastJob("j_a", 5)).with_settled(PastJob("j_a", 7))
    assert history.settled == (PastJob("j_a", 5),)
    for i in range(30):
        history = history.with_settled(PastJob(f"j_{i}", i))
    assert len(history.settled) == BASELINE_MAX_JOBS
    assert history.settled[-1] == PastJob("j_29", 29)


def test_history_baseline_needs_five_reported_jobs_and_leaves_out_the_judged_one() -> None:
    four = History(settled=tuple(PastJob(f"j_{i}", 100) for i in range(4)))
    assert four.baseline() is None
    # Jobs that reported no lines do not count towards the five
    assert four.with_settled(PastJob("j_none", None)).baseline() is None
    five = four.with_settled(PastJob("j_x", 10))
    baseline = five.baseline()
    assert baseline is not None and baseline.median_lines == 100
    assert baseline.job_ids == ("j_0", "j_1", "j_2", "j_3", "j_x")
    # The job being judged is never part of its own baseline
    assert five.baseline(exclude="j_x") is None


def test_history_storage_round_trip_and_garbage_is_dropped() -> None:
    history = hourly(NOW - HOUR, count=4).with_settled(PastJob("j_a", 3))
    assert History.from_dict(history.to_dict()) == history
    junk = {
        "created": ["not a time", 5, (NOW - HOUR).isoformat()],
        "settled": [["j_ok", "12"], ["j_bool", True], "x", [1, 2], ["j_none", None]],
    }
    restored = History.from_dict(junk, version=4)
    assert restored.created == (NOW - HOUR,)
    assert restored.settled == (
        PastJob("j_ok", 12),
        PastJob("j_bool", None),
        PastJob("j_none", None),
    )
    assert restored.version == 4
    assert History.from_dict(None) == History()


# --- collector_silent ------------------------------------------------------------------------


def test_collector_silent_after_hourly_jobs_stopped_eight_hours_ago() -> None:
    # Given hourly jobs until 8 hours ago, and the default factor of 3 (so 3 hours allowed)
    (result,) = judge_collector(hourly(NOW - 8 * HOUR), DEFAULTS, NOW)
    # Then the collector is silent, and the alert says since when and what is usual
    assert result.verdict is Verdict.BREACH
    assert result.finding.observed == 480 and result.finding.limit == 180
    message = result.finding.message
    assert "no job since 2026-03-02 01:00:00 UTC (usually every 1 h)" in message
    assert "no new job for 8 h" in message and "allowed 3 h" in message


@pytest.mark.parametrize(("silent_minutes", "verdict"), [(180, Verdict.OK), (181, Verdict.BREACH)])
def test_collector_silent_at_and_just_past_the_limit(silent_minutes: int, verdict: Verdict) -> None:
    history = hourly(NOW - timedelta(minutes=silent_minutes))
    (result,) = judge_collector(history, DEFAULTS, NOW)
    assert result.verdict is verdict


def test_collector_silent_limit_is_at_least_an_hour_for_a_fast_collector() -> None:
    # Given a job every 5 minutes (3 x 5 min = 15 min, below the 60-minute floor)
    history = History(created=tuple(NOW - timedelta(minutes=40 + 5 * i) for i in range(6)))
    assert judge_collector(history, DEFAULTS, NOW)[0].verdict is Verdict.OK
    later = NOW + timedelta(minutes=21)  # 61 minutes after the last job
    assert judge_collector(history, DEFAULTS, later)[0].verdict is Verdict.BREACH


def test_collector_silent_is_not_judged_without_three_intervals() -> None:
    history = hourly(NOW - 20 * HOUR, count=3)
    (result,) = judge_collector(history, DEFAULTS, NOW)
    assert result.verdict is Verdict.UNKNOWN and result.finding is None


def test_collector_silent_explicit_limit_needs_no_cadence_and_factor_null_turns_it_off() -> None:
    one_job = History(created=(NOW - 3 * HOUR,))
    explicit = Thresholds(max_silence_minutes=120)
    (result,) = judge_collector(one_job, explicit, NOW)
    assert result.verdict is Verdict.BREACH and "max_silence_minutes" in result.finding.message
    off = Thresholds(max_silence_factor=None)
    assert judge_collector(hourly(NOW - 8 * HOUR), off, NOW)[0].verdict is Verdict.UNKNOWN


def test_judge_activity_judges_each_listed_collector_from_its_history_alone() -> None:
    results = judge_activity(
        {"c_dead": hourly(NOW - 8 * HOUR), "c_new": History()}, lambda _cid: DEFAULTS, NOW
    )
    assert [r.verdict for r in results["c_dead"]] == [Verdict.BREACH]
    assert [r.verdict for r in results["c_new"]] == [Verdict.UNKNOWN]


# --- output_below_baseline -------------------------------------------------------------------


def test_output_below_baseline_warns_with_the_median_and_the_jobs_it_came_from() -> None:
    results = judge(settled_job(lines=200), DEFAULTS, NOW, steady(1000))
    result = result_for(Rule.OUTPUT_BELOW_BASELINE, results)
    assert result.verdict is Verdict.BREACH
    assert (result.finding.observed, result.finding.limit) == (200, 500)
    message = result.finding.message
    assert "200 output lines, 20% of this collector's median of 1,000" in message
    assert "over its last 10 settled jobs (j_past5, j_past6, j_past7, j_past8, j_past9" in message
    assert "and 5 earlier" in message


@pytest.mark.parametrize(("lines", "verdict"), [(499, Verdict.BREACH), (500, Verdict.OK)])
def test_output_below_baseline_at_and_just_below_half_the_median(
    lines: int, verdict: Verdict
) -> None:
    results = judge(settled_job(lines=lines), DEFAULTS, NOW, steady(1000))
    assert result_for(Rule.OUTPUT_BELOW_BASELINE, results).verdict is verdict


def test_output_below_baseline_one_outlier_does_not_move_the_median() -> None:
    history = steady(1000, count=9).with_settled(PastJob("j_empty", 0))
    results = judge(settled_job(lines=600), DEFAULTS, NOW, history)
    assert result_for(Rule.OUTPUT_BELOW_BASELINE, results).verdict is Verdict.OK


@pytest.mark.parametrize(
    ("job", "history", "verdict"),
    [
        (settled_job(lines=1), steady(1000, count=4), Verdict.UNKNOWN),  # too little history
        (settled_job(lines=None), steady(1000), Verdict.UNKNOWN),  # no lines reported
        (settled_job(lines=0), steady(0), Verdict.OK),  # nothing is usual here
        (settled_job(lines=1, Status="running", finished=None), steady(1000), Verdict.PENDING),
    ],
    ids=["short-history", "no-lines", "median-zero", "live"],
)
def test_output_below_baseline_does_not_judge_what_it_cannot(
    job: JobLog, history: History, verdict: Verdict
) -> None:
    results = judge(job, DEFAULTS, NOW, history)
    assert result_for(Rule.OUTPUT_BELOW_BASELINE, results).verdict is verdict


def test_output_below_baseline_null_turns_it_off() -> None:
    results = judge(settled_job(lines=1), Thresholds(min_lines_vs_median=None), NOW, steady())
    assert Rule.OUTPUT_BELOW_BASELINE not in {result.rule for result in results}


# --- the judge stage builds the baseline -----------------------------------------------------


def _read(job_id: str, lines: int, hours_ago: int) -> tuple[JobRecord, JobLog]:
    created = NOW - HOUR * hours_ago
    job = settled_job(job_id, lines=lines, created=created.isoformat(), started=None)
    return JobRecord(job_id=job_id, collector_id=CID, first_seen=NOW), job


def test_first_run_judges_the_lookback_oldest_first_and_learns_the_baseline() -> None:
    # Given a first run that reads 7 settled jobs, newest first: the newest returned a fifth
    read = [_read("j_7", 200, 1)] + [_read(f"j_{n}", 1000, 8 - n) for n in range(6, 0, -1)]
    # When judged with no history yet
    judgement = judge_jobs(read, lambda _cid: DEFAULTS, NOW, {})
    # Then the jobs are grouped in the order they were read ...
    judged = judgement.by_collector[CID]
    assert [item.job.job_id for item in judged] == ["j_7", "j_6", "j_5", "j_4", "j_3", "j_2", "j_1"]
    verdicts = {
        item.job.job_id: result_for(Rule.OUTPUT_BELOW_BASELINE, list(item.results)).verdict
        for item in judged
    }
    # ... but judged oldest first: five jobs form the baseline, the sixth is judged against them
    assert [verdicts[f"j_{n}"] for n in range(1, 8)] == [Verdict.UNKNOWN] * 5 + [
        Verdict.OK,
        Verdict.BREACH,
    ]
    # And the collector's history now holds every settled job, oldest first
    history = judgement.histories[CID]
    assert [past.job_id for past in history.settled] == [f"j_{n}" for n in range(1, 8)]


def test_a_job_already_in_the_history_is_not_added_again_nor_judged_against_itself() -> None:
    history = steady(1000, count=5).with_settled(PastJob("j_again", 10))
    judgement = judge_jobs([_read("j_again", 10, 1)], lambda _cid: DEFAULTS, NOW, {CID: history})
    assert CID not in judgement.histories
    (item,) = judgement.by_collector[CID]
    verdict = result_for(Rule.OUTPUT_BELOW_BASELINE, list(item.results)).verdict
    assert verdict is Verdict.BREACH  # judged against the five others, not itself


# --- the decide stage: a collector-wide alarm ------------------------------------------------


def _decide(
    activity: list[Any], alarms: dict[str, RuleAlarm] | None = None, **settings: Any
) -> Any:
    return decide_collector(
        CID, "Shop", [], alarms or {}, Settings(**settings), NOW, activity=activity
    )


def silent_now() -> list[Any]:
    return judge_collector(hourly(NOW - 8 * HOUR), DEFAULTS, NOW)


def test_a_silent_collector_opens_one_alarm_with_its_claim() -> None:
    decision = _decide(silent_now())
    (entry,) = decision.entries
    assert (entry.kind, entry.rule, entry.severity.value) == (
        AlertKind.ALARM,
        "collector_silent",
        "critical",
    )
    assert "no job since" in entry.message
    (claim,) = decision.claims
    assert isinstance(claim, AlarmClaim) and claim.expected_version == 0
    assert claim.alarm.state is AlarmState.ALARM and claim.alarm.alarm_since == NOW


def _open_alarm() -> RuleAlarm:
    return RuleAlarm(
        collector_id=CID,
        rule="collector_silent",
        state=AlarmState.ALARM,
        version=3,
        alarm_since=NOW - 2 * HOUR,
        last_notified=NOW - 2 * HOUR,
        exists=True,
    )


def test_a_still_silent_collector_says_nothing_more_without_reminders() -> None:
    decision = _decide(silent_now(), {"collector_silent": _open_alarm()})
    assert decision.entries == [] and decision.claims == []


def test_a_still_silent_collector_is_reminded_of_when_reminders_are_on() -> None:
    decision = _decide(silent_now(), {"collector_silent": _open_alarm()}, repeat_after_minutes=60)
    assert [entry.kind for entry in decision.entries] == [AlertKind.REMINDER]


def test_a_collector_that_starts_a_job_again_resolves_its_alarm() -> None:
    back = judge_collector(hourly(NOW - 8 * HOUR).with_created([NOW - HOUR]), DEFAULTS, NOW)
    assert back[0].verdict is Verdict.OK
    decision = _decide(back, {"collector_silent": _open_alarm()})
    (entry,) = decision.entries
    assert (entry.kind, entry.rule) == (AlertKind.RESOLVED, "collector_silent")
    assert entry.since == NOW - 2 * HOUR and entry.duration_s == 7200
    (claim,) = decision.claims
    assert claim.expected_version == 3 and claim.alarm.state is AlarmState.OK


def test_a_healthy_or_unjudged_collector_writes_nothing() -> None:
    healthy = judge_collector(hourly(NOW - HOUR), DEFAULTS, NOW)
    unjudged = judge_collector(History(), DEFAULTS, NOW)
    for activity in (healthy, unjudged):
        decision = _decide(activity)
        assert decision.entries == [] and decision.claims == [] and decision.quiet_alarms == []


def test_every_job_mode_keeps_the_collector_wide_alarm() -> None:
    # Given every_job mode (no alarm state for job rules) and an open silence alarm
    decision = _decide(
        silent_now(), {"collector_silent": _open_alarm()}, alert_mode=AlertMode.EVERY_JOB
    )
    # Then the open alarm is still known: no second ALARM
    assert decision.entries == []


# --- edges that mutation testing showed untested ---------------------------------------------


def test_history_cadence_needs_exactly_three_gaps() -> None:
    four_times = hourly(NOW - HOUR, count=4)
    cadence = four_times.cadence()
    assert cadence is not None and cadence.intervals == 3


def test_history_drops_stored_entries_of_the_wrong_shape() -> None:
    junk = {"settled": ["ab", ["j_words", "many"], ["j_ok", 7]]}
    assert History.from_dict(junk).settled == (PastJob("j_words", None), PastJob("j_ok", 7))


def test_output_below_baseline_never_counts_the_judged_job_in_its_own_baseline() -> None:
    # Given four other jobs and the judged job itself already remembered: five with it, four
    # without, so there is no baseline yet
    history = steady(1000, count=4).with_settled(PastJob("j_new", 10))
    results = judge(settled_job(lines=10), DEFAULTS, NOW, history)
    assert result_for(Rule.OUTPUT_BELOW_BASELINE, results).verdict is Verdict.UNKNOWN


def test_output_below_baseline_names_the_five_latest_jobs_and_counts_the_rest() -> None:
    seven = judge(settled_job(lines=1), DEFAULTS, NOW, steady(1000, count=7))
    message = result_for(Rule.OUTPUT_BELOW_BASELINE, seven).finding.message
    assert "(j_past2, j_past3, j_past4, j_past5, j_past6 and 2 earlier)" in message
    five = judge(settled_job(lines=1), DEFAULTS, NOW, steady(1000, count=5))
    message = result_for(Rule.OUTPUT_BELOW_BASELINE, five).finding.message
    assert "(j_past0, j_past1, j_past2, j_past3, j_past4);" in message


def test_output_below_baseline_a_median_of_one_line_still_judges_zero() -> None:
    results = judge(settled_job(lines=0), DEFAULTS, NOW, steady(1))
    assert result_for(Rule.OUTPUT_BELOW_BASELINE, results).verdict is Verdict.BREACH


def test_learned_says_what_was_learned_or_what_is_missing() -> None:
    history = hourly(NOW - HOUR, count=5)
    history = History(created=history.created, settled=steady(1000, count=6).settled)
    found = learned(history, timedelta(hours=3), 0.5)
    assert found["cadence"] == {
        "interval_minutes": 60.0,
        "intervals": 4,
        "last_job_created": "2026-03-02T08:00:00.000Z",
    }
    assert (found["cadence_needs"], found["silent_after_minutes"]) == (None, 180.0)
    assert found["baseline"] == {
        "median_lines": 1000.0,
        "jobs": [f"j_past{i}" for i in range(6)],
        "warns_below_lines": 500.0,
    }
    assert found["baseline_needs"] is None
    # Nothing learned yet: what is missing, and the baseline rule off
    empty = learned(History(created=(NOW,)), None, None)
    assert (empty["cadence"], empty["cadence_needs"]) == (None, "0 of 3 intervals")
    assert (empty["baseline"], empty["baseline_needs"]) == (None, "0 of 5 settled jobs")
    assert empty["silent_after_minutes"] is None
    off = learned(History(settled=steady(1000, count=5).settled), None, None)
    assert off["baseline"]["warns_below_lines"] is None
