"""Specs for job_alerts.rules: every rule at, just below and just above its limit."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts.history import History, PastJob
from job_alerts.joblog import JobLog, JobStatus, parse_job_log
from job_alerts.rules import (
    ACTIVITY_RULES,
    COLLECTOR_RULES,
    JOB_EVENT_RULES,
    RULES,
    THRESHOLD_SPECS,
    Direction,
    Finding,
    Rule,
    RuleResult,
    Severity,
    Unit,
    Verdict,
    evaluate,
    judge,
    max_severity,
)
from job_alerts.thresholds import Thresholds

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
DEFAULTS = Thresholds()


def make_job(**fields: Any) -> JobLog:
    """A settled, healthy job unless the test says otherwise."""
    base: dict[str, Any] = {
        "job_id": "j_test",
        "status": JobStatus.DONE,
        "raw_status": "done",
        "inputs": 10,
        "success": 10,
        "fails": 0,
        "lines": 100,
        "success_rate": 1.0,
        "created": NOW - timedelta(minutes=30),
        "started": NOW - timedelta(minutes=29),
        "finished": NOW - timedelta(minutes=1),
        "queue_time": timedelta(minutes=1),
        "job_time": timedelta(minutes=28),
    }
    base.update(fields)
    return JobLog(**base)


def live(**fields: Any) -> JobLog:
    return make_job(
        **{"status": JobStatus.RUNNING, "raw_status": "running", "finished": None, **fields}
    )


def result_for(rule: Rule, job: JobLog, thresholds: Thresholds = DEFAULTS) -> RuleResult:
    return next(result for result in judge(job, thresholds, NOW) if result.rule is rule)


# --- severity ------------------------------------------------------------------------------


def test_severity_rank_orders_critical_over_warning_over_info() -> None:
    assert Severity.CRITICAL.rank == 3
    assert Severity.WARNING.rank == 2
    assert Severity.INFO.rank == 1


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ([Severity.INFO, Severity.CRITICAL, Severity.WARNING], Severity.CRITICAL),
        ([Severity.INFO, Severity.WARNING], Severity.WARNING),
        ([Severity.INFO], Severity.INFO),
        ([], None),
    ],
)
def test_max_severity_picks_highest_rank_or_none(
    severities: list[Severity], expected: Severity | None
) -> None:
    assert max_severity(iter(severities)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("critical", Severity.CRITICAL), ("WARNING", Severity.WARNING), (" Info ", Severity.INFO)],
)
def test_severity_parse_is_case_insensitive(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


@pytest.mark.parametrize("text", ["", "fatal", "crit"])
def test_severity_parse_unknown_lists_valid_values(text: str) -> None:
    with pytest.raises(ValueError, match="expected one of: critical, warning, info"):
        Severity.parse(text)


# --- rule catalogue ------------------------------------------------------------------------


# A limit no healthy job comes near, per unit: below it for minimums, above it for maximums.
LENIENT: dict[Direction, dict[Unit, Any]] = {
    Direction.MIN: {Unit.RATE: 0.0, Unit.COUNT: 0, Unit.MINUTES: 0.001},
    Direction.MAX: {Unit.RATE: 1.0, Unit.COUNT: 10**9, Unit.MINUTES: 10.0**9, Unit.FACTOR: 10.0**9},
}
# The rules judge() weighs a job with (collector-wide rules are judged by judge_collector).
JOB_RULES = [rule for rule in Rule if rule not in ACTIVITY_RULES]
# A collector whose recent settled jobs all returned what make_job() returns.
STEADY = History(settled=tuple(PastJob(f"j_past{i}", 100) for i in range(10)))
# Every optional threshold set (leniently), so every rule is on.
ALL_ON = dataclasses.replace(
    DEFAULTS,
    **{
        key: LENIENT[spec.direction][spec.unit]
        for key, spec in THRESHOLD_SPECS.items()
        if spec.optional
    },
)


def test_rule_sets_partition_all_rules() -> None:
    assert set(Rule) == JOB_EVENT_RULES | COLLECTOR_RULES | ACTIVITY_RULES
    assert len(Rule) == len(JOB_EVENT_RULES) + len(COLLECTOR_RULES) + len(ACTIVITY_RULES)


def test_judge_returns_one_result_per_enabled_rule_optional_rules_off_by_default() -> None:
    # Given default thresholds (some optional ones, like max_fail_ratio, are None) / When judged
    rules = [result.rule for result in judge(make_job(), DEFAULTS, NOW)]
    # Then every job rule but those has exactly one result, in Rule order
    off = {
        rule
        for rule, spec in RULES.items()
        if spec.threshold and getattr(DEFAULTS, spec.threshold.key) is None
    }
    assert Rule.FAIL_RATIO_ABOVE_MAX in off
    assert rules == [rule for rule in JOB_RULES if rule not in off]


def test_judge_includes_optional_rules_when_their_limit_is_set() -> None:
    rules = [result.rule for result in judge(make_job(), ALL_ON, NOW)]
    assert rules == JOB_RULES


def test_judge_healthy_settled_job_is_all_ok() -> None:
    results = judge(make_job(), ALL_ON, NOW, STEADY)
    assert {result.verdict for result in results} == {Verdict.OK}
    assert all(result.finding is None for result in results)
    assert evaluate(make_job(), DEFAULTS, NOW) == []


def test_judge_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        judge(make_job(), DEFAULTS, datetime(2025, 5, 1, 12, 0))


# --- job_failed / job_cancelled --------------------------------------------------------------


def test_job_failed_breaches_critical() -> None:
    # Given a failed job / When judged
    result = result_for(Rule.JOB_FAILED, make_job(status=JobStatus.FAILED, raw_status="failed"))
    # Then a critical finding says so
    assert result.verdict is Verdict.BREACH
    assert result.finding == Finding(
        rule=Rule.JOB_FAILED,
        severity=Severity.CRITICAL,
        observed="failed",
        limit=None,
        message="job ended with status failed",
        job_id="j_test",
    )


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        (make_job(), Verdict.OK),
        (live(), Verdict.PENDING),
        (make_job(status=JobStatus.CANCELLED), Verdict.OK),
        (make_job(status=JobStatus.UNKNOWN, raw_status=None), Verdict.UNKNOWN),
    ],
)
def test_job_failed_other_states(job: JobLog, verdict: Verdict) -> None:
    assert result_for(Rule.JOB_FAILED, job).verdict is verdict


@pytest.mark.parametrize("raw", ["cancelled", "canceled", "CANCELED", " Cancelled "])
def test_job_cancelled_breaches_warning_for_every_spelling(raw: str) -> None:
    # Given a cancelled job in any spelling
    job = parse_job_log({"id": "j_c", "status": raw, "finished": "2025-05-01T11:00:00Z"})
    # When judged
    result = result_for(Rule.JOB_CANCELLED, job)
    # Then a warning says it was cancelled, in the API's own spelling
    assert result.verdict is Verdict.BREACH
    assert result.finding is not None
    assert result.finding.severity is Severity.WARNING
    assert result.finding.observed == "cancelled"
    assert result.finding.message == f"job was {raw.strip().lower()}"


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        (make_job(), Verdict.OK),
        (make_job(status=JobStatus.FAILED), Verdict.OK),
        (live(), Verdict.PENDING),
        (make_job(status=JobStatus.UNKNOWN, raw_status="exploded"), Verdict.UNKNOWN),
    ],
)
def test_job_cancelled_other_states(job: JobLog, verdict: Verdict) -> None:
    assert result_for(Rule.JOB_CANCELLED, job).verdict is verdict


# --- success_rate_below_min ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "verdict"),
    [(0.9, Verdict.OK), (0.89, Verdict.BREACH), (0.91, Verdict.OK), (0.0, Verdict.BREACH)],
)
def test_success_rate_below_min_around_limit(rate: float, verdict: Verdict) -> None:
    job = make_job(success_rate=rate, success=None)
    assert result_for(Rule.SUCCESS_RATE_BELOW_MIN, job).verdict is verdict


@pytest.mark.parametrize(
    ("success", "inputs", "minimum", "verdict"),
    [
        (9, 10, 0.9, Verdict.OK),
        (27, 30, 0.9, Verdict.OK),
        (7, 10, 0.7, Verdict.OK),
        (29, 100, 0.29, Verdict.OK),
        (28, 100, 0.29, Verdict.BREACH),
    ],
)
def test_success_rate_below_min_computed_rate_exactly_at_limit_is_ok(
    success: int, inputs: int, minimum: float, verdict: Verdict
) -> None:
    # Given a rate computed from counts that lands on the limit (float rounding aside)
    job = parse_job_log(
        {"id": "j_1", "status": "done", "Inputs": inputs, "Success": success, "Lines": 5}
    )
    result = result_for(Rule.SUCCESS_RATE_BELOW_MIN, job, Thresholds(min_success_rate=minimum))
    assert result.verdict is verdict


def test_success_rate_below_min_finding_message_and_numbers() -> None:
    # Given 21 of 50 inputs succeeded against a 90% minimum
    job = make_job(inputs=50, success=21, success_rate=0.42)
    # When judged
    finding = result_for(Rule.SUCCESS_RATE_BELOW_MIN, job).finding
    # Then the finding is critical, numeric and readable
    assert finding is not None
    assert finding.severity is Severity.CRITICAL
    assert finding.observed == 0.42
    assert finding.limit == 0.9
    assert finding.message == (
        "success rate 42% is below the minimum 90% (21 of 50 inputs succeeded)"
    )


def test_success_rate_below_min_message_without_counts() -> None:
    job = make_job(inputs=None, success=None, success_rate=0.5)
    finding = result_for(Rule.SUCCESS_RATE_BELOW_MIN, job).finding
    assert finding is not None
    assert finding.message == "success rate 50% is below the minimum 90%"


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        (live(success_rate=0.1), Verdict.PENDING),
        (make_job(success_rate=None), Verdict.UNKNOWN),
        (make_job(status=JobStatus.CANCELLED, success_rate=0.5), Verdict.BREACH),
    ],
)
def test_success_rate_below_min_live_or_missing(job: JobLog, verdict: Verdict) -> None:
    assert result_for(Rule.SUCCESS_RATE_BELOW_MIN, job).verdict is verdict


def test_failed_job_with_low_rate_breaches_both_rules() -> None:
    # Given a failed job whose success rate is also low
    job = make_job(status=JobStatus.FAILED, inputs=50, success=21, success_rate=0.42)
    # When evaluated / Then both facts are reported; the monitor groups them
    rules = {finding.rule for finding in evaluate(job, DEFAULTS, NOW)}
    assert {Rule.JOB_FAILED, Rule.SUCCESS_RATE_BELOW_MIN} <= rules


# --- fails_above_max -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fails", "maximum", "verdict"),
    [
        (0, 0, Verdict.OK),
        (1, 0, Verdict.BREACH),
        (4, 5, Verdict.OK),
        (5, 5, Verdict.OK),
        (6, 5, Verdict.BREACH),
    ],
)
def test_fails_above_max_around_limit(fails: int, maximum: int, verdict: Verdict) -> None:
    job = make_job(fails=fails)
    assert result_for(Rule.FAILS_ABOVE_MAX, job, Thresholds(max_fails=maximum)).verdict is verdict


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        (live(fails=6), Verdict.BREACH),
        (live(fails=5), Verdict.PENDING),
        (live(fails=None), Verdict.PENDING),
        (make_job(fails=None), Verdict.UNKNOWN),
    ],
)
def test_fails_above_max_live_and_missing(job: JobLog, verdict: Verdict) -> None:
    # Failures only grow, so a live job already over the limit is a breach
    assert result_for(Rule.FAILS_ABOVE_MAX, job, Thresholds(max_fails=5)).verdict is verdict


@pytest.mark.parametrize(
    ("fails", "message"),
    [
        (12, "12 inputs failed, more than the allowed 0"),
        (1, "1 input failed, more than the allowed 0"),
    ],
)
def test_fails_above_max_finding_message(fails: int, message: str) -> None:
    finding = result_for(
        Rule.FAILS_ABOVE_MAX, make_job(fails=fails), Thresholds(max_fails=0)
    ).finding
    assert finding is not None
    assert (finding.severity, finding.observed, finding.limit) == (Severity.WARNING, fails, 0)
    assert finding.message == message


# --- fail_ratio_above_max ------------------------------------------------------------------

RATIO = Thresholds(max_fail_ratio=0.2, max_fails=1000)


@pytest.mark.parametrize(
    ("fails", "verdict"), [(9, Verdict.OK), (10, Verdict.OK), (11, Verdict.BREACH)]
)
def test_fail_ratio_above_max_around_limit(fails: int, verdict: Verdict) -> None:
    job = make_job(inputs=50, fails=fails)
    assert result_for(Rule.FAIL_RATIO_ABOVE_MAX, job, RATIO).verdict is verdict


def test_fail_ratio_above_max_finding_message() -> None:
    finding = result_for(Rule.FAIL_RATIO_ABOVE_MAX, make_job(inputs=50, fails=15), RATIO).finding
    assert finding is not None
    assert finding.observed == pytest.approx(0.3)
    assert finding.limit == 0.2
    assert finding.message == "fail ratio 30% is above the maximum 20% (15 of 50 inputs failed)"


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        (live(inputs=50, fails=30), Verdict.BREACH),
        (live(inputs=50, fails=1), Verdict.PENDING),
        (make_job(inputs=0, fails=0), Verdict.UNKNOWN),
        (make_job(inputs=None, fails=3), Verdict.UNKNOWN),
        (live(inputs=None, fails=3), Verdict.PENDING),
    ],
)
def test_fail_ratio_above_max_live_and_missing(job: JobLog, verdict: Verdict) -> None:
    assert result_for(Rule.FAIL_RATIO_ABOVE_MAX, job, RATIO).verdict is verdict


# --- stuck_queued --------------------------------------------------------------------------


def queued(minutes_ago: float | None, **fields: Any) -> JobLog:
    created = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    defaults = {"status": JobStatus.QUEUED, "raw_status": "queued", "started": None}
    return make_job(**{**defaults, "created": created, "finished": None, **fields})


@pytest.mark.parametrize(
    ("minutes_ago", "verdict"),
    [(59.9, Verdict.OK), (60, Verdict.OK), (60.1, Verdict.BREACH), (-5, Verdict.OK)],
)
def test_stuck_queued_around_limit(minutes_ago: float, verdict: Verdict) -> None:
    assert result_for(Rule.STUCK_QUEUED, queued(minutes_ago)).verdict is verdict


def test_stuck_queued_finding_message() -> None:
    finding = result_for(Rule.STUCK_QUEUED, queued(75)).finding
    assert finding is not None
    assert (finding.severity, finding.observed, finding.limit) == (Severity.WARNING, 75.0, 60.0)
    assert finding.message == "queued for 1 h 15 min, longer than the allowed 1 h"


def test_stuck_queued_observed_minutes_rounded_to_a_tenth() -> None:
    finding = result_for(Rule.STUCK_QUEUED, queued(90.04)).finding
    assert finding is not None
    assert finding.observed == 90.0
    assert finding.message == "queued for 1 h 30 min, longer than the allowed 1 h"


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        # Settled long ago: no longer queued at all
        (make_job(created=NOW - timedelta(days=2), started=None), Verdict.OK),
        # Started: the queue is behind it
        (live(created=NOW - timedelta(hours=5)), Verdict.OK),
        # Says running, no start time: not queued
        (live(created=NOW - timedelta(hours=5), started=None), Verdict.OK),
        # No created time while waiting: cannot measure
        (queued(None), Verdict.UNKNOWN),
        (queued(600, status=JobStatus.BUILDING, raw_status="building"), Verdict.BREACH),
        (queued(600, status=JobStatus.UNKNOWN, raw_status=None), Verdict.BREACH),
    ],
)
def test_stuck_queued_other_states(job: JobLog, verdict: Verdict) -> None:
    assert result_for(Rule.STUCK_QUEUED, job).verdict is verdict


# --- stuck_running -------------------------------------------------------------------------


def running_for(minutes: float, **fields: Any) -> JobLog:
    return live(**{"started": NOW - timedelta(minutes=minutes), **fields})


@pytest.mark.parametrize(
    ("minutes", "verdict"), [(239.9, Verdict.OK), (240, Verdict.OK), (240.1, Verdict.BREACH)]
)
def test_stuck_running_around_limit(minutes: float, verdict: Verdict) -> None:
    assert result_for(Rule.STUCK_RUNNING, running_for(minutes)).verdict is verdict


def test_stuck_running_finding_message() -> None:
    finding = result_for(Rule.STUCK_RUNNING, running_for(300.25)).finding
    assert finding is not None
    assert (finding.severity, finding.observed, finding.limit) == (Severity.WARNING, 300.2, 240.0)
    assert finding.message == "running for 5 h, longer than the allowed 4 h"


def test_stuck_running_just_over_the_limit_never_reads_as_the_limit() -> None:
    # Given a job running 6 s longer than its 4 h limit
    finding = result_for(Rule.STUCK_RUNNING, running_for(240.1)).finding
    # Then its message shows the seconds that make it a breach
    assert finding is not None
    assert finding.message == "running for 4 h 6 s, longer than the allowed 4 h"


def test_stuck_running_paused_job_says_paused() -> None:
    job = running_for(300, status=JobStatus.PAUSED, raw_status="paused")
    finding = result_for(Rule.STUCK_RUNNING, job).finding
    assert finding is not None
    assert finding.message.startswith("paused for 5 h")


@pytest.mark.parametrize(
    "job",
    [
        make_job(started=NOW - timedelta(days=1)),
        make_job(status=JobStatus.UNKNOWN, started=NOW - timedelta(days=1)),
        queued(10),
    ],
)
def test_stuck_running_settled_or_not_started_is_ok(job: JobLog) -> None:
    assert result_for(Rule.STUCK_RUNNING, job).verdict is Verdict.OK


def test_stuck_running_uses_limit_from_thresholds() -> None:
    result = result_for(Rule.STUCK_RUNNING, running_for(31), Thresholds(max_run_minutes=30))
    assert result.verdict is Verdict.BREACH


# --- output_below_min ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "minimum", "verdict"),
    [
        (0, 1, Verdict.BREACH),
        (1, 1, Verdict.OK),
        (2, 1, Verdict.OK),
        (9, 10, Verdict.BREACH),
        (10, 10, Verdict.OK),
        (11, 10, Verdict.OK),
        (0, 0, Verdict.OK),
    ],
)
def test_output_below_min_around_limit(lines: int, minimum: int, verdict: Verdict) -> None:
    result = result_for(Rule.OUTPUT_BELOW_MIN, make_job(lines=lines), Thresholds(min_lines=minimum))
    assert result.verdict is verdict


def test_output_below_min_finding_message() -> None:
    finding = result_for(Rule.OUTPUT_BELOW_MIN, make_job(lines=0, inputs=50)).finding
    assert finding is not None
    assert (finding.severity, finding.observed, finding.limit) == (Severity.WARNING, 0, 1)
    assert finding.message == "0 output lines from 50 inputs, fewer than the minimum 1"


@pytest.mark.parametrize(
    ("job", "verdict"),
    [
        (make_job(inputs=0, lines=0), Verdict.OK),
        (live(lines=0), Verdict.PENDING),
        (make_job(lines=None), Verdict.UNKNOWN),
        (make_job(inputs=None, lines=0), Verdict.UNKNOWN),
    ],
)
def test_output_below_min_no_inputs_live_or_missing(job: JobLog, verdict: Verdict) -> None:
    assert result_for(Rule.OUTPUT_BELOW_MIN, job).verdict is verdict


# --- whole-job scenarios ---------------------------------------------------------------------


def test_judge_field_report_job_without_status_is_judged_on_counts() -> None:
    # Given the field report: no status, a finished time and failed inputs
    job = parse_job_log(
        {
            "id": "j_fr",
            "Inputs": 10,
            "Success": 4,
            "Fails": 6,
            "Lines": 0,
            "finished": "2025-05-01T11:50:00Z",
        }
    )
    # When judged
    verdicts = {result.rule: result.verdict for result in judge(job, DEFAULTS, NOW)}
    # Then the counts raise the alarm even though the status says nothing (the rules that are
    # off by default, max_fails and max_fail_ratio, are not judged)
    assert verdicts == {
        Rule.JOB_FAILED: Verdict.UNKNOWN,
        Rule.JOB_CANCELLED: Verdict.UNKNOWN,
        Rule.SUCCESS_RATE_BELOW_MIN: Verdict.BREACH,
        Rule.STUCK_QUEUED: Verdict.OK,
        Rule.STUCK_RUNNING: Verdict.OK,
        Rule.OUTPUT_BELOW_MIN: Verdict.BREACH,
        # No history of the collector to compare with
        Rule.OUTPUT_BELOW_BASELINE: Verdict.UNKNOWN,
    }


def test_evaluate_returns_findings_for_breaches_only_with_job_id() -> None:
    job = make_job(job_id="j_many", status=JobStatus.FAILED, fails=3, success_rate=0.7, lines=0)
    findings = evaluate(job, Thresholds(max_fails=0), NOW)
    assert [finding.rule for finding in findings] == [
        Rule.JOB_FAILED,
        Rule.SUCCESS_RATE_BELOW_MIN,
        Rule.FAILS_ABOVE_MAX,
        Rule.OUTPUT_BELOW_MIN,
    ]
    assert {finding.job_id for finding in findings} == {"j_many"}
    assert max_severity(finding.severity for finding in findings) is Severity.CRITICAL
