"""Specs for job_alerts.joblog: turning a `/dca/log` answer into a JobLog that judges what can be
judged, names every odd field, and refuses only an answer with nothing to judge."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts.joblog import (
    RATE_AGREEMENT_TOLERANCE,
    FieldProblem,
    JobLog,
    JobLogError,
    JobStatus,
    Judged,
    parse_job_log,
)
from job_alerts.rules import Rule, Verdict, judge
from job_alerts.thresholds import Thresholds

# The documented example answer of GET /dca/log/{job_id}.
SEED: dict[str, Any] = {
    "Id": "j_ma13y9ay1piehrso8r",
    "Status": "done",
    "Collector": "c_m9im5n7v82p2y35la",
    "Template": "t_m9jty150kxgwtzcgi.3",
    "Inputs": 1,
    "dup_inputs": 0,
    "Lines": 60,
    "Fails": 0,
    "Pages": 1,
    "Pages_left": 0,
    "Success": 1,
    "Navigations": 2,
    "created": "2025-04-28T13:22:16.857Z",
    "started": "2025-04-28T13:22:17.502Z",
    "finished": "2025-04-28T13:23:28.961Z",
    "trigger": "someone@example.com",
    "Success_rate": 1,
    "Job_time": 71459,
    "Queue_time": 645,
}
FINISHED = "2025-04-28T13:23:28Z"
# A fixed moment for judging: the suite never reads the wall clock.
NOW = datetime(2025, 4, 28, 14, 0, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def running(**fields: Any) -> dict[str, Any]:
    """A minimal judgeable answer (a running job) plus `fields`."""
    return {"id": "j_1", "status": "running", **fields}


def problem_fields(job: JobLog) -> list[str]:
    return [problem.field for problem in job.problems]


def verdicts(job: JobLog) -> dict[Rule, Verdict]:
    return {result.rule: result.verdict for result in judge(job, Thresholds(), NOW)}


def test_parse_job_log_reads_documented_example() -> None:
    # Given the documented answer / When parsed
    job = parse_job_log(SEED)
    # Then every field is typed and nothing was odd
    assert job == JobLog(
        job_id="j_ma13y9ay1piehrso8r",
        status=JobStatus.DONE,
        raw_status="done",
        collector_id="c_m9im5n7v82p2y35la",
        inputs=1,
        success=1,
        fails=0,
        lines=60,
        pages=1,
        pages_left=0,
        dup_inputs=0,
        navigations=2,
        success_rate=1.0,
        job_time=timedelta(milliseconds=71459),
        queue_time=timedelta(milliseconds=645),
        created=datetime(2025, 4, 28, 13, 22, 16, 857000, tzinfo=UTC),
        started=datetime(2025, 4, 28, 13, 22, 17, 502000, tzinfo=UTC),
        finished=datetime(2025, 4, 28, 13, 23, 28, 961000, tzinfo=UTC),
        template="t_m9jty150kxgwtzcgi.3",
        trigger="someone@example.com",
    )
    assert job.extra == {}
    assert job.problems == ()
    assert job.notes == ()
    assert job.settled


def test_parse_job_log_lowercase_keys_equal_capitalised_keys() -> None:
    # Given the same answer with the newer all-lowercase keys, and with upper-case keys
    lower = {key.lower(): value for key, value in SEED.items()}
    upper = {key.upper(): value for key, value in SEED.items()}
    # When parsed / Then the result is identical
    assert parse_job_log(lower) == parse_job_log(SEED) == parse_job_log(upper)


@pytest.mark.parametrize("key", ["Success_rate", "success_rate", "SUCCESS_RATE", "Success_Rate"])
def test_parse_job_log_success_rate_key_any_case(key: str) -> None:
    assert parse_job_log(running(**{key: 0.25})).success_rate == 0.25


@pytest.mark.parametrize(("first", "second"), [(2, 2), (2, "2"), ("2", 2.0)])
def test_parse_job_log_same_field_twice_agreeing_is_read(first: Any, second: Any) -> None:
    # Given both spellings saying the same number, in any form
    job = parse_job_log(running(Fails=first, fails=second))
    # Then it is read once, without a problem
    assert job.fails == 2
    assert job.problems == ()


def test_parse_job_log_same_field_twice_disagreeing_is_judged_without_it() -> None:
    # Given both spellings disagreeing: nobody can say which is true
    job = parse_job_log({"id": "j_1", "status": "failed", "Fails": 2, "fails": 3, "Inputs": 5})
    # Then that field is None and named; the rest is judged
    assert job.fails is None
    assert job.inputs == 5
    assert job.status is JobStatus.FAILED
    assert job.problems == (
        FieldProblem("fails", "unreadable: given twice with different values ('Fails', 'fails')"),
    )


# --- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("done", JobStatus.DONE),
        ("Done", JobStatus.DONE),
        ("DONE", JobStatus.DONE),
        ("failed", JobStatus.FAILED),
        ("cancelled", JobStatus.CANCELLED),
        ("canceled", JobStatus.CANCELLED),
        ("CANCELED", JobStatus.CANCELLED),
        ("Cancelled", JobStatus.CANCELLED),
        (" running ", JobStatus.RUNNING),
        ("queued", JobStatus.QUEUED),
        ("building", JobStatus.BUILDING),
        ("paused", JobStatus.PAUSED),
        ("exploded", JobStatus.UNKNOWN),
        ("unknown", JobStatus.UNKNOWN),
    ],
)
def test_parse_job_log_status_spellings(raw: str, expected: JobStatus) -> None:
    # Given a status in any case, spelling or padding
    job = parse_job_log({"id": "j_1", "status": raw})
    # Then it maps to the enum and the raw text is kept as given
    assert job.status is expected
    assert job.raw_status == raw


@pytest.mark.parametrize("status", [None, "", "  "])
def test_parse_job_log_missing_status_is_unknown_without_raw(status: Any) -> None:
    # Given no status, but a count to judge
    job = parse_job_log({"id": "j_1", "status": status, "Inputs": 3})
    # Then the status is unknown, with nothing to note about it
    assert job.status is JobStatus.UNKNOWN
    assert job.raw_status is None
    assert job.problems == ()
    assert job.notes == ()


@pytest.mark.parametrize(
    ("status", "shown"),
    [(3, "3"), (["done"], "a list"), ({"v": "done"}, "an object"), (True, "true")],
)
def test_parse_job_log_non_text_status_is_judged_on_the_counts(status: Any, shown: str) -> None:
    # Given a status that is not text, beside counts
    job = parse_job_log({"id": "j_1", "status": status, "Inputs": 10, "Fails": 6})
    # Then the status is unknown and named as odd, and the counts are still there
    assert job.status is JobStatus.UNKNOWN
    assert job.raw_status is None
    assert job.fails == 6
    assert job.problems == (
        FieldProblem("status", f"unreadable: expected text, got {shown}", Judged.ON_COUNTS),
    )


def test_parse_job_log_unknown_status_keeps_raw_text_and_notes_it() -> None:
    # Given a status this version does not know
    job = parse_job_log({"id": "j_1", "Status": "Archived", "Inputs": 4, "Success": 1})
    # Then it is not terminal, its text is kept, and one note names it
    assert job.status is JobStatus.UNKNOWN
    assert not job.settled
    assert job.raw_status == "Archived"
    assert job.problems == ()
    assert job.notes == ("unknown status 'Archived': judged on its counts",)


# --- settled ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "finished", "settled"),
    [
        ("done", None, True),
        ("failed", None, True),
        ("cancelled", None, True),
        ("canceled", FINISHED, True),
        ("running", None, False),
        # A known live status wins over a stray finished time.
        ("running", FINISHED, False),
        ("queued", None, False),
        ("paused", None, False),
        ("building", None, False),
        (None, None, False),
        (None, FINISHED, True),
        ("exploded", None, False),
        ("exploded", FINISHED, True),
    ],
)
def test_job_log_settled_follows_status_then_finished(
    status: str | None, finished: str | None, settled: bool
) -> None:
    # Given a status (or none) with or without a finished time, and a count
    payload: dict[str, Any] = {"id": "j_1", "status": status, "finished": finished, "Inputs": 1}
    # Then settled follows the status, or the finished time when the status says nothing
    assert parse_job_log(payload).settled is settled


def test_job_log_field_report_no_status_but_failures_is_judged_on_counts() -> None:
    # Given the field report: no status at all, but failed inputs and a finished time
    job = parse_job_log({"id": "j_1", "Inputs": 10, "Success": 4, "Fails": 6, "finished": FINISHED})
    # Then the job is settled and its counts are there to judge
    assert job.status is JobStatus.UNKNOWN
    assert job.settled
    assert job.fails == 6
    assert job.success_rate == pytest.approx(0.4)


# --- what cannot be judged at all ------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "j_1"},
        {"id": "j_1", "status": None, "finished": FINISHED, "created": FINISHED},
        {"id": "j_1", "status": "", "Job_time": 5, "Template": "t_1", "Other": 1},
        {"id": "j_1", "status": 3, "Fails": "many", "Inputs": [1]},
        {"id": "j_1", "Status": "done", "status": "failed"},
        {"id": "j_1", "Success_rate": "high"},
    ],
)
def test_parse_job_log_no_status_and_no_readable_count_is_refused(payload: dict[str, Any]) -> None:
    # Given neither a status nor any readable count or success rate
    # When parsed / Then there is nothing to judge, and it says so
    with pytest.raises(JobLogError) as info:
        parse_job_log(payload)
    assert info.value.field == "payload"
    assert info.value.problem.startswith("nothing to judge: no status and no readable count")


def test_parse_job_log_unjudgeable_answer_names_its_odd_fields() -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "status": [], "Fails": "many"})
    assert info.value.problem.endswith("(unreadable: status, fails)")


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "j_1", "status": "exploded"},
        {"id": "j_1", "Pages_left": 0},
        {"id": "j_1", "Navigations": "2"},
        {"id": "j_1", "Success_rate": "95%"},
    ],
)
def test_parse_job_log_a_status_or_one_readable_count_is_enough(payload: dict[str, Any]) -> None:
    assert parse_job_log(payload).job_id == "j_1"


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12, 12), ("12", 12), (" 3 ", 3), ("+7", 7), (12.0, 12), ("12.0", 12), ("1e3", 1000), (0, 0)],
)
def test_parse_job_log_counts_accept_numbers_and_numeric_strings(raw: Any, expected: int) -> None:
    job = parse_job_log(running(Inputs=raw))
    assert job.inputs == expected
    assert isinstance(job.inputs, int)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (True, "unreadable: expected a number, got true"),
        (False, "unreadable: expected a number, got false"),
        ([1], "unreadable: expected a number, got a list"),
        ({"n": 1}, "unreadable: expected a number, got an object"),
        ("12x", "unreadable: expected a number, got '12x'"),
        ("1_000", "unreadable: expected a number, got '1_000'"),
        ("١٢", "unreadable: expected a number, got '\\u0661\\u0662'"),
        ("nan", "unreadable: expected a number, got 'nan'"),
        ("1e999", "unreadable: expected a finite number, got '1e999'"),
        (float("nan"), "unreadable: expected a finite number, got nan"),
        (float("inf"), "unreadable: expected a finite number, got inf"),
        (-1, "unreadable: expected a count from 0 to 1e+15, got -1"),
        ("-1", "unreadable: expected a count from 0 to 1e+15, got '-1'"),
        (1.5, "unreadable: expected a whole number, got 1.5"),
        ("2.5", "unreadable: expected a whole number, got '2.5'"),
        (10**16, "unreadable: expected a count from 0 to 1e+15, got 10000000000000000"),
        ("9" * 5000, "unreadable: expected a finite number, got '999999999999999999999999'"),
    ],
)
def test_parse_job_log_odd_count_is_none_and_named(raw: Any, problem: str) -> None:
    # Given garbage where a count belongs, beside good counts
    job = parse_job_log(running(Fails=raw, Inputs=10))
    # Then that count is None, the problem names it, and the other counts are read
    assert job.fails is None
    assert job.inputs == 10
    (found,) = job.problems
    assert found.field == "fails"
    assert found.problem.startswith(problem)
    assert found.judged is Judged.WITHOUT_IT


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_parse_job_log_absent_count_is_none_without_a_problem(raw: Any) -> None:
    job = parse_job_log(running(Fails=raw))
    assert job.fails is None
    assert job.problems == ()


def test_parse_job_log_missing_fields_are_none_not_zero() -> None:
    # Given an answer with nothing but an id and a status
    job = parse_job_log({"Id": "j_1", "status": "running"})
    # Then every measurement is None
    for name in (
        "inputs",
        "success",
        "fails",
        "lines",
        "pages",
        "pages_left",
        "dup_inputs",
        "navigations",
        "success_rate",
        "job_time",
        "queue_time",
        "created",
        "started",
        "finished",
        "collector_id",
        "template",
        "trigger",
    ):
        assert getattr(job, name) is None, name
    assert job.fail_ratio is None
    assert not job.settled


@pytest.mark.parametrize(
    ("fails", "inputs", "expected"), [(5, 50, 0.1), (0, 3, 0.0), (1, 0, None), (None, 5, None)]
)
def test_job_log_fail_ratio_is_fails_over_inputs(
    fails: int | None, inputs: int, expected: float | None
) -> None:
    assert parse_job_log(running(Fails=fails, Inputs=inputs)).fail_ratio == expected


# --- success rate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, 0.0),
        (1, 1.0),
        (0.5, 0.5),
        ("0.5", 0.5),
        (" 1 ", 1.0),
        ("0", 0.0),
        # Above 1 and up to 100 it is a percent; with '%' it always is.
        (40, 0.4),
        ("95", 0.95),
        (100, 1.0),
        (1.5, 0.015),
        ("95%", 0.95),
        (" 95 % ", 0.95),
        ("0.5%", 0.005),
        ("100%", 1.0),
    ],
)
def test_parse_job_log_success_rate_without_counts_is_taken_as_given(
    raw: Any, expected: float
) -> None:
    # Given a reported rate and no counts to check it against
    job = parse_job_log(running(Success_rate=raw))
    # Then it is read as a fraction, or as a percent above 1
    assert job.success_rate == pytest.approx(expected)
    assert job.problems == ()


@pytest.mark.parametrize(
    ("raw", "inputs", "success"),
    [
        (40, 100, 40),
        ("40", 100, 40),
        ("95%", 100, 95),
        (0.42, 50, 21),
        # Rounded to two decimals or to a whole percent still agrees.
        (0.33, 3, 1),
        (33, 3, 1),
        ("67%", 3, 2),
    ],
)
def test_parse_job_log_success_rate_agreeing_with_counts_is_taken(
    raw: Any, inputs: int, success: int
) -> None:
    # Given a reported rate that Success/Inputs confirms within rounding
    job = parse_job_log(running(Success_rate=raw, Inputs=inputs, Success=success))
    # Then the reported rate is used, as a fraction, and nothing is noted
    assert job.success_rate == pytest.approx(success / inputs, abs=RATE_AGREEMENT_TOLERANCE)
    assert job.problems == ()


@pytest.mark.parametrize(
    ("raw", "inputs", "success", "said"),
    [
        ("95%", 100, 40, "95%"),
        (95, 100, 40, "95%"),
        (0.5, 10, 1, "50%"),
        (1, 100, 1, "100%"),
        (0.9, 1000, 889, "90%"),
    ],
)
def test_parse_job_log_success_rate_contradicted_by_counts_is_judged_on_counts(
    raw: Any, inputs: int, success: int, said: str
) -> None:
    # Given a reported rate that Success/Inputs contradicts beyond rounding
    job = parse_job_log(
        {"id": "j_1", "status": "done", "Success_rate": raw, "Inputs": inputs, "Success": success}
    )
    # Then the job is judged on the counts, and a note says so
    assert job.success_rate == pytest.approx(success / inputs)
    assert job.problems == (
        FieldProblem(
            "success_rate",
            f"says {said}, but Success/Inputs = {success}/{inputs}",
            Judged.ON_COUNTS,
        ),
    )
    assert job.notes == (
        f"field 'success_rate' says {said}, but Success/Inputs = {success}/{inputs};"
        " judged on the counts",
    )


def test_job_log_success_rate_from_counts_breaches_when_reported_rate_flatters() -> None:
    # Given Bright Data saying 95% while only 40 of 100 inputs succeeded
    job = parse_job_log(
        {"id": "j_1", "status": "done", "Success_rate": "95%", "Inputs": 100, "Success": 40}
    )
    # Then the success-rate rule fires on the truth
    assert verdicts(job)[Rule.SUCCESS_RATE_BELOW_MIN] is Verdict.BREACH


@pytest.mark.parametrize(
    ("raw", "counts", "expected", "problem", "judged"),
    [
        (250, {}, None, "out of range: 250 is neither a rate (0-1) nor a percent", "without"),
        (-0.01, {}, None, "out of range: -0.01 is neither a rate (0-1) nor a percent", "without"),
        ("101%", {}, None, "out of range: '101%' is neither a rate (0-1) nor a percent", "without"),
        (250, {"Inputs": 4, "Success": 1}, 0.25, "out of range: 250", "counts"),
        ("high", {"Inputs": 4, "Success": 1}, 0.25, "unreadable: expected a number", "counts"),
        ("%", {}, None, "unreadable: expected a percent, got '%'", "without"),
        (True, {}, None, "unreadable: expected a number, got true", "without"),
        (float("nan"), {}, None, "unreadable: expected a finite number, got nan", "without"),
    ],
)
def test_parse_job_log_odd_success_rate_falls_back_to_counts(
    raw: Any, counts: dict[str, int], expected: float | None, problem: str, judged: str
) -> None:
    # Given a rate that is neither a fraction nor a percent, with or without counts
    job = parse_job_log(running(Success_rate=raw, **counts))
    # Then it is judged on the counts when there are some, else without a rate
    assert job.success_rate == expected
    (found,) = job.problems
    assert found.field == "success_rate"
    assert found.problem.startswith(problem)
    assert found.judged is {"without": Judged.WITHOUT_IT, "counts": Judged.ON_COUNTS}[judged]


@pytest.mark.parametrize(
    ("inputs", "success", "expected"),
    [
        (50, 21, 0.42),
        ("50", "21", 0.42),
        (4, 4, 1.0),
        (4, 0, 0.0),
        (0, 0, None),
        (None, 3, None),
        (3, None, None),
        (2, 3, 1.0),
    ],
)
def test_parse_job_log_success_rate_computed_when_absent(
    inputs: Any, success: Any, expected: float | None
) -> None:
    # Given no Success_rate / Then it is Success/Inputs when both are known and Inputs > 0
    # (capped at 100% when Success exceeds Inputs)
    job = parse_job_log(running(Inputs=inputs, Success=success))
    assert job.success_rate == (pytest.approx(expected) if expected is not None else None)


# --- durations and times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (71459, timedelta(seconds=71, milliseconds=459)),
        ("645", timedelta(milliseconds=645)),
        (0, timedelta(0)),
        (1.4, timedelta(milliseconds=1)),
        (None, None),
    ],
)
def test_parse_job_log_durations_are_milliseconds(raw: Any, expected: timedelta | None) -> None:
    job = parse_job_log(running(Job_time=raw, queue_time=raw))
    assert job.job_time == expected
    assert job.queue_time == expected


@pytest.mark.parametrize("raw", [-1, "soon", 1e300, [5]])
def test_parse_job_log_odd_duration_is_none_and_named(raw: Any) -> None:
    job = parse_job_log(running(Job_time=raw, Queue_time=5))
    assert job.job_time is None
    assert job.queue_time == timedelta(milliseconds=5)
    assert problem_fields(job) == ["job_time"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-04-28T13:22:16.857Z", datetime(2025, 4, 28, 13, 22, 16, 857000, tzinfo=UTC)),
        ("2025-04-28T15:22:16+02:00", utc(2025, 4, 28, 13, 22, 16)),
        ("2025-04-28T08:22:16-05:00", utc(2025, 4, 28, 13, 22, 16)),
        # Without a zone, a time is UTC like every API time.
        ("2025-04-28T13:22:16", utc(2025, 4, 28, 13, 22, 16)),
        ("2025-04-28 13:22:16Z", utc(2025, 4, 28, 13, 22, 16)),
        (" 2025-04-28T13:22:16Z ", utc(2025, 4, 28, 13, 22, 16)),
        # Epoch seconds and milliseconds, as numbers or numeric strings.
        (1745846536, utc(2025, 4, 28, 13, 22, 16)),
        ("1745846536", utc(2025, 4, 28, 13, 22, 16)),
        (1745846536.857, datetime(2025, 4, 28, 13, 22, 16, 857000, tzinfo=UTC)),
        (1745846536857, datetime(2025, 4, 28, 13, 22, 16, 857000, tzinfo=UTC)),
        ("1745846536857", datetime(2025, 4, 28, 13, 22, 16, 857000, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_job_log_times_become_aware_utc(raw: Any, expected: datetime | None) -> None:
    job = parse_job_log(running(created=raw, started=raw, finished=raw))
    for moment in (job.created, job.started, job.finished):
        assert moment == expected
        if moment is not None:
            assert moment.tzinfo is UTC
    assert job.problems == ()


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "2025-13-01T00:00:00Z",
        ["2025-04-28"],
        True,
        -5,
        "0001-01-01T00:00:00+01:00",
        10**400,
        float("inf"),
    ],
)
def test_parse_job_log_odd_time_is_none_and_named(raw: Any) -> None:
    job = parse_job_log(running(started=raw, created="2025-04-28T13:22:16Z"))
    assert job.started is None
    assert job.created == utc(2025, 4, 28, 13, 22, 16)
    (found,) = job.problems
    assert found.field == "started"
    assert found.problem.startswith(
        "unreadable: expected a time (ISO-8601, epoch seconds or milliseconds), got "
    )


# --- a failed job stays failed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("odd", "field"),
    [
        ({"Fails": "many"}, "fails"),
        ({"Inputs": -3}, "inputs"),
        ({"created": "soon", "finished": "later"}, "created"),
        ({"finished": {"at": 1}}, "finished"),
        ({"Job_time": "long"}, "job_time"),
        ({"Success_rate": "lots"}, "success_rate"),
        ({"Collector": 42}, "collector"),
    ],
)
def test_failed_job_with_an_odd_field_is_still_reported_failed(
    odd: dict[str, Any], field: str
) -> None:
    # Given a failed job with one odd field among good ones
    payload = {"id": "j_1", "status": "failed", "Inputs": 10, "Success": 0, "Fails": 10, **odd}
    # When parsed and judged
    job = parse_job_log(payload)
    # Then job_failed fires, and the alert can name the odd field
    assert job.status is JobStatus.FAILED
    assert verdicts(job)[Rule.JOB_FAILED] is Verdict.BREACH
    assert field in problem_fields(job)


def test_failed_job_with_epoch_millisecond_times_is_reported_failed() -> None:
    # Given the seen case: a failed job whose times are epoch milliseconds
    job = parse_job_log(
        {
            "id": "j_1",
            "status": "failed",
            "Inputs": 5,
            "Fails": 5,
            "created": 1745846536857,
            "finished": 1745846600000,
        }
    )
    # Then the times are read and job_failed fires, with nothing odd to say
    assert job.finished == utc(2025, 4, 28, 13, 23, 20)
    assert verdicts(job)[Rule.JOB_FAILED] is Verdict.BREACH
    assert job.notes == ()


def test_cancelled_job_without_readable_counts_is_reported_cancelled() -> None:
    job = parse_job_log({"id": "j_1", "status": "canceled", "Inputs": "some", "Fails": None})
    assert verdicts(job)[Rule.JOB_CANCELLED] is Verdict.BREACH
    assert problem_fields(job) == ["inputs"]


# --- notes -----------------------------------------------------------------------------------


def test_job_log_notes_say_what_was_odd_and_how_it_was_judged() -> None:
    # Given an unknown status, an unreadable time and a count given twice
    job = parse_job_log(
        {
            "id": "j_1",
            "status": "archived",
            "created": "soon",
            "Fails": 1,
            "fails": 2,
            "Inputs": 10,
            "Success": 9,
        }
    )
    # Then one sentence each, the status first
    assert job.notes == (
        "unknown status 'archived': judged on its counts",
        "field 'fails' unreadable: given twice with different values ('Fails', 'fails');"
        " judged without it",
        "field 'created' unreadable: expected a time (ISO-8601, epoch seconds or milliseconds),"
        " got 'soon'; judged without it",
    )


@pytest.mark.parametrize(
    ("text_field", "attribute"),
    [("Collector", "collector_id"), ("Template", "template"), ("trigger", "trigger")],
)
def test_parse_job_log_non_text_text_field_is_none_and_named(
    text_field: str, attribute: str
) -> None:
    job = parse_job_log(running(**{text_field: 42}))
    assert getattr(job, attribute) is None
    assert job.problems == (FieldProblem(text_field.lower(), "unreadable: expected text, got 42"),)


@pytest.mark.parametrize("collector", ["c-1", "collector", "c_abc/../x", "<!channel>", "c_"])
def test_parse_job_log_collector_that_is_not_an_id_is_none_and_named(collector: str) -> None:
    # Given a Collector that is no collector id: alarms are kept per collector id
    job = parse_job_log(running(Collector=collector))
    # Then it never becomes one
    assert job.collector_id is None
    assert problem_fields(job) == ["collector"]


# --- identity, shape, extras -----------------------------------------------------------------


def test_parse_job_log_missing_id_uses_job_id_argument() -> None:
    assert parse_job_log({"status": "done"}, job_id="j_asked").job_id == "j_asked"


def test_parse_job_log_matching_id_and_argument_is_fine() -> None:
    assert parse_job_log({"Id": "j_1", "status": "done"}, job_id="j_1").job_id == "j_1"


@pytest.mark.parametrize(
    ("payload", "job_id"),
    [
        ({"status": "done"}, None),
        ({"Id": "", "status": "done"}, None),
        ({"status": "done"}, "  "),
        ({"Id": "j_other", "status": "done"}, "j_1"),
        ({"Id": 12, "status": "done"}, "j_1"),
        ({"Id": "j_1", "id": "j_2", "status": "done"}, None),
        ({"Id": "j_" + "x" * 300, "status": "done"}, None),
        ({"Id": "../dca/collectors_list", "status": "done"}, None),
        ({"status": "done"}, "j_abc?collector=c_x"),
    ],
)
def test_parse_job_log_unclear_identity_is_refused(
    payload: dict[str, Any], job_id: str | None
) -> None:
    # Given an answer that cannot be pinned on exactly one job
    with pytest.raises(JobLogError) as info:
        parse_job_log(payload, job_id=job_id)
    # Then it is refused: judging it could alert about the wrong job
    assert info.value.field == "id"


@pytest.mark.parametrize("payload", [None, [], "done", 3, [SEED], {1: "done"}])
def test_parse_job_log_payload_not_an_object_is_refused(payload: Any) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log(payload, job_id="j_1")
    assert info.value.field == "payload"
    assert isinstance(info.value, ValueError)


def test_parse_job_log_keeps_unknown_fields_read_only() -> None:
    # Given fields this version does not know, one in two spellings
    payload = {**SEED, "Data_lines": 5, "data_lines": 6, "nested": {"a": [1]}}
    job = parse_job_log(payload)
    # Then they are kept under their original spelling, read-only and detached from the input
    assert job.extra == {"Data_lines": 5, "data_lines": 6, "nested": {"a": [1]}}
    with pytest.raises(TypeError):
        job.extra["x"] = 1  # type: ignore[index]
    payload["nested"]["a"].append(2)
    assert job.extra["nested"] == {"a": [1]}


def test_parse_job_log_trigger_object_keeps_user_not_ip() -> None:
    job = parse_job_log(
        running(trigger={"type": "api", "user": "ops@example.com", "ip": "192.0.2.1"})
    )
    assert job.trigger == "ops@example.com"
    assert "192.0.2.1" not in json.dumps(job.to_dict())


def test_job_log_is_immutable_and_hashable() -> None:
    job = parse_job_log({**SEED, "Fails": "many"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.fails = 3  # type: ignore[misc]
    assert hash(job) == hash(parse_job_log({**SEED, "Fails": "many"}))


# --- fingerprint -----------------------------------------------------------------------------


def test_job_log_fingerprint_of_a_clean_job_is_unchanged_by_this_version() -> None:
    # Given the documented answer / Then its digest is the one stored before problems existed,
    # so a deploy does not make every live job look changed
    assert parse_job_log(SEED).fingerprint() == "b179b12577f052b5"


def test_job_log_fingerprint_is_stable_and_short() -> None:
    first = parse_job_log(SEED).fingerprint()
    assert first == parse_job_log(dict(reversed(list(SEED.items())))).fingerprint()
    assert len(first) == 16
    int(first, 16)


@pytest.mark.parametrize(
    "change",
    [
        {"Status": "failed"},
        {"Status": "DONE"},
        {"Inputs": 2},
        {"Success": 0},
        {"Fails": 1},
        {"Lines": 61},
        {"Pages": 2},
        {"Pages_left": 1},
        {"finished": "2025-04-28T13:23:29Z"},
        # A field turning odd changes what an alert would say.
        {"created": "soon"},
    ],
)
def test_job_log_fingerprint_changes_with_what_the_monitor_acts_on(change: dict[str, Any]) -> None:
    assert parse_job_log({**SEED, **change}).fingerprint() != parse_job_log(SEED).fingerprint()


@pytest.mark.parametrize("change", [{"Job_time": 1}, {"Navigations": 9}, {"Other": "x"}])
def test_job_log_fingerprint_ignores_incidental_fields(change: dict[str, Any]) -> None:
    assert parse_job_log({**SEED, **change}).fingerprint() == parse_job_log(SEED).fingerprint()


# --- to_dict / from_dict ---------------------------------------------------------------------


def test_job_log_to_dict_of_existing_data_is_unchanged_by_this_version() -> None:
    # Given answers as the monitor stored them before problems existed
    canceled = {
        "id": "vj_2",
        "status": "canceled",
        "Inputs": "4",
        "Success": "3",
        "finished": FINISHED,
        "Other": [1],
    }
    # Then to_dict writes the very same JSON (golden strings from the previous version)
    assert json.dumps(parse_job_log(SEED).to_dict(), sort_keys=True) == (
        '{"collector_id": "c_m9im5n7v82p2y35la", "created": "2025-04-28T13:22:16.857000Z",'
        ' "dup_inputs": 0, "extra": {}, "fails": 0, "finished": "2025-04-28T13:23:28.961000Z",'
        ' "inputs": 1, "job_id": "j_ma13y9ay1piehrso8r", "job_time_ms": 71459, "lines": 60,'
        ' "navigations": 2, "pages": 1, "pages_left": 0, "queue_time_ms": 645,'
        ' "raw_status": "done", "started": "2025-04-28T13:22:17.502000Z", "status": "done",'
        ' "success": 1, "success_rate": 1.0, "template": "t_m9jty150kxgwtzcgi.3",'
        ' "trigger": "someone@example.com"}'
    )
    assert json.dumps(parse_job_log(canceled).to_dict(), sort_keys=True) == (
        '{"collector_id": null, "created": null, "dup_inputs": null, "extra": {"Other": [1]},'
        ' "fails": null, "finished": "2025-04-28T13:23:28Z", "inputs": 4, "job_id": "vj_2",'
        ' "job_time_ms": null, "lines": null, "navigations": null, "pages": null,'
        ' "pages_left": null, "queue_time_ms": null, "raw_status": "canceled", "started": null,'
        ' "status": "cancelled", "success": 3, "success_rate": 0.75, "template": null,'
        ' "trigger": null}'
    )


def test_job_log_to_dict_is_json_safe() -> None:
    data = parse_job_log({**SEED, "Other": [1, "x"], "Fails": "many"}).to_dict()
    # Then strict JSON can carry it, with ISO strings, whole milliseconds and the problems
    json.dumps(data, allow_nan=False)
    assert data["status"] == "done"
    assert data["finished"] == "2025-04-28T13:23:28.961000Z"
    assert data["job_time_ms"] == 71459
    assert data["queue_time_ms"] == 645
    assert data["extra"] == {"Other": [1, "x"]}
    assert data["problems"] == [
        {
            "field": "fails",
            "problem": "unreadable: expected a number, got 'many'",
            "judged": "judged without it",
        }
    ]


@pytest.mark.parametrize(
    "payload",
    [
        SEED,
        {"id": "j_1", "status": "running"},
        {"id": "j_1", "status": "Exploded", "finished": FINISHED, "Fails": 3},
        {"id": "vj_2", "status": "canceled", "Inputs": "4", "Success": "3", "extra_key": None},
        {"id": "j_3", "status": [1], "Fails": "x", "Inputs": 9, "created": 1745846536857},
        {"id": "j_4", "status": "done", "Success_rate": "95%", "Inputs": 100, "Success": 40},
        {"id": "j_5", "status": "done", "created": 1745846536.123456, "Job_time": 1.4},
    ],
)
def test_job_log_from_dict_rebuilds_to_dict(payload: dict[str, Any]) -> None:
    job = parse_job_log(payload)
    stored = json.loads(json.dumps(job.to_dict()))
    assert JobLog.from_dict(stored) == job
    assert JobLog.from_dict(stored).notes == job.notes


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "payload"),
        ({}, "job_id"),
        ({"job_id": "j_1", "status": "nope"}, "status"),
        ({"job_id": "j_1", "status": "done", "fails": -2}, "fails"),
        ({"job_id": "j_1", "status": "done", "success_rate": 40}, "success_rate"),
        ({"job_id": "j_1", "status": "done", "created": "soon"}, "created"),
        ({"job_id": "j_1", "status": "done", "raw_status": 3}, "raw_status"),
        ({"job_id": "j_1", "status": "done", "extra": []}, "extra"),
        ({"job_id": "j_1", "status": "done", "extra": {"(omitted keys)": "x"}}, "extra"),
        ({"job_id": "j_1", "status": "done", "problems": {}}, "problems"),
        ({"job_id": "j_1", "status": "done", "problems": [{"field": "nope"}]}, "problems"),
        (
            {
                "job_id": "j_1",
                "status": "done",
                "problems": [{"field": "fails", "problem": "x", "judged": "by magic"}],
            },
            "problems",
        ),
        (
            {
                "job_id": "j_1",
                "status": "done",
                "problems": [
                    {"field": "fails", "problem": "x" * 1000, "judged": "judged without it"}
                ],
            },
            "problems",
        ),
    ],
)
def test_job_log_from_dict_refuses_what_to_dict_never_writes(data: Any, field: str) -> None:
    with pytest.raises(JobLogError) as info:
        JobLog.from_dict(data)
    assert info.value.field == field
