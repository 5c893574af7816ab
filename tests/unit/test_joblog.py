"""Specs for job_alerts.joblog: turning a `/dca/log` answer into a trustworthy JobLog."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts.joblog import JobLog, JobLogError, JobStatus, parse_job_log

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


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_parse_job_log_reads_documented_example() -> None:
    # Given the documented answer / When parsed
    job = parse_job_log(SEED)
    # Then every field is typed
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
    assert job.settled


def test_parse_job_log_lowercase_keys_equal_capitalised_keys() -> None:
    # Given the same answer with the newer all-lowercase keys, and with upper-case keys
    lower = {key.lower(): value for key, value in SEED.items()}
    upper = {key.upper(): value for key, value in SEED.items()}
    # When parsed / Then the result is identical
    assert parse_job_log(lower) == parse_job_log(SEED) == parse_job_log(upper)


@pytest.mark.parametrize("key", ["Success_rate", "success_rate", "SUCCESS_RATE", "Success_Rate"])
def test_parse_job_log_success_rate_key_any_case(key: str) -> None:
    assert parse_job_log({"id": "j_1", key: 0.25}).success_rate == 0.25


def test_parse_job_log_same_field_twice_with_same_value_is_fine() -> None:
    assert parse_job_log({"id": "j_1", "Fails": 2, "fails": 2}).fails == 2


def test_parse_job_log_same_field_twice_with_different_values_is_refused() -> None:
    # Given both spellings disagreeing / Then nobody can say which is true
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "Fails": 2, "fails": 3})
    assert info.value.field == "fails"


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


@pytest.mark.parametrize(
    "payload", [{"id": "j_1"}, {"id": "j_1", "status": None}, {"id": "j_1", "Status": "  "}]
)
def test_parse_job_log_missing_status_is_unknown_without_raw(payload: dict[str, Any]) -> None:
    job = parse_job_log(payload)
    assert job.status is JobStatus.UNKNOWN
    assert job.raw_status is None


@pytest.mark.parametrize("status", [3, ["done"], {"v": "done"}, True])
def test_parse_job_log_non_string_status_is_refused(status: Any) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "status": status})
    assert info.value.field == "status"


# --- settled ---------------------------------------------------------------------------------

FINISHED = "2025-04-28T13:23:28Z"


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
    # Given a status (or none) with or without a finished time
    payload: dict[str, Any] = {"id": "j_1", "status": status, "finished": finished}
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


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12, 12), ("12", 12), (" 3 ", 3), ("+7", 7), (12.0, 12), ("12.0", 12), ("1e3", 1000), (0, 0)],
)
def test_parse_job_log_counts_accept_numbers_and_numeric_strings(raw: Any, expected: int) -> None:
    job = parse_job_log({"id": "j_1", "Inputs": raw})
    assert job.inputs == expected
    assert isinstance(job.inputs, int)


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        [1],
        {"n": 1},
        "12x",
        "1_000",
        "١٢",
        "nan",
        "inf",
        float("nan"),
        float("inf"),
        -1,
        "-1",
        1.5,
        "2.5",
        10**16,
        "9" * 5000,
    ],
)
def test_parse_job_log_bad_count_is_refused_naming_the_field(raw: Any) -> None:
    # Given garbage where a count belongs
    # When parsed / Then JobLogError names the field: a monitor must not judge garbage
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "Fails": raw})
    assert info.value.field == "fails"
    assert str(info.value).startswith("fails: ")


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_parse_job_log_absent_count_is_none(raw: Any) -> None:
    assert parse_job_log({"id": "j_1", "Fails": raw}).fails is None


def test_parse_job_log_missing_fields_are_none_not_zero() -> None:
    # Given an answer with nothing but an id
    job = parse_job_log({"Id": "j_1"})
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
    ("raw", "expected"), [(0, 0.0), (1, 1.0), (0.5, 0.5), ("0.5", 0.5), (" 1 ", 1.0), ("0", 0.0)]
)
def test_parse_job_log_success_rate_given(raw: Any, expected: float) -> None:
    job = parse_job_log({"id": "j_1", "Success_rate": raw, "Inputs": 10, "Success": 1})
    # The given rate wins over the computed one
    assert job.success_rate == expected


@pytest.mark.parametrize("raw", [1.01, -0.01, 42, "95", True, "high", float("nan")])
def test_parse_job_log_success_rate_outside_zero_one_is_refused(raw: Any) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "success_rate": raw})
    assert info.value.field == "success_rate"


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
    job = parse_job_log({"id": "j_1", "Inputs": inputs, "Success": success})
    assert job.success_rate == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("fails", "inputs", "expected"), [(5, 50, 0.1), (0, 3, 0.0), (1, 0, None), (None, 5, None)]
)
def test_job_log_fail_ratio_is_fails_over_inputs(
    fails: int | None, inputs: int, expected: float | None
) -> None:
    assert parse_job_log({"id": "j_1", "Fails": fails, "Inputs": inputs}).fail_ratio == expected


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
    job = parse_job_log({"id": "j_1", "Job_time": raw, "queue_time": raw})
    assert job.job_time == expected
    assert job.queue_time == expected


@pytest.mark.parametrize("raw", [-1, "soon", 1e300, [5]])
def test_parse_job_log_bad_duration_is_refused(raw: Any) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "Job_time": raw})
    assert info.value.field == "job_time"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-04-28T13:22:16.857Z", datetime(2025, 4, 28, 13, 22, 16, 857000, tzinfo=UTC)),
        ("2025-04-28T15:22:16+02:00", utc(2025, 4, 28, 13, 22, 16)),
        ("2025-04-28T08:22:16-05:00", utc(2025, 4, 28, 13, 22, 16)),
        ("2025-04-28T13:22:16", utc(2025, 4, 28, 13, 22, 16)),
        ("2025-04-28 13:22:16Z", utc(2025, 4, 28, 13, 22, 16)),
        (" 2025-04-28T13:22:16Z ", utc(2025, 4, 28, 13, 22, 16)),
        ("", None),
        (None, None),
    ],
)
def test_parse_job_log_timestamps_become_aware_utc(raw: Any, expected: datetime | None) -> None:
    job = parse_job_log({"id": "j_1", "created": raw, "started": raw, "finished": raw})
    for moment in (job.created, job.started, job.finished):
        assert moment == expected
        if moment is not None:
            assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2025-13-01T00:00:00Z", 1714310536, ["2025-04-28"], "0001-01-01T00:00:00+01:00"],
)
def test_parse_job_log_bad_timestamp_is_refused(raw: Any) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log({"id": "j_1", "started": raw})
    assert info.value.field == "started"


# --- identity, shape, extras -----------------------------------------------------------------


def test_parse_job_log_missing_id_uses_job_id_argument() -> None:
    assert parse_job_log({"status": "done"}, job_id="j_asked").job_id == "j_asked"


def test_parse_job_log_matching_id_and_argument_is_fine() -> None:
    assert parse_job_log({"Id": "j_1"}, job_id="j_1").job_id == "j_1"


@pytest.mark.parametrize(
    ("payload", "job_id"),
    [
        ({"status": "done"}, None),
        ({"Id": ""}, None),
        ({}, "  "),
        ({"Id": "j_other"}, "j_1"),
        ({"Id": 12}, "j_1"),
    ],
)
def test_parse_job_log_id_problems_are_refused(payload: dict[str, Any], job_id: str | None) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log(payload, job_id=job_id)
    assert info.value.field == "id"


@pytest.mark.parametrize("payload", [None, [], "done", 3, [SEED]])
def test_parse_job_log_payload_not_an_object_is_refused(payload: Any) -> None:
    with pytest.raises(JobLogError) as info:
        parse_job_log(payload, job_id="j_1")
    assert info.value.field == "payload"
    assert isinstance(info.value, ValueError)


def test_parse_job_log_keeps_unknown_fields_read_only() -> None:
    # Given fields this version does not know
    payload = {**SEED, "Data_lines": 5, "nested": {"a": [1]}}
    job = parse_job_log(payload)
    # Then they are kept under their original spelling, read-only and detached from the input
    assert job.extra == {"Data_lines": 5, "nested": {"a": [1]}}
    with pytest.raises(TypeError):
        job.extra["x"] = 1  # type: ignore[index]
    payload["nested"]["a"].append(2)
    assert job.extra["nested"] == {"a": [1]}


def test_parse_job_log_trigger_object_keeps_user_not_ip() -> None:
    job = parse_job_log(
        {"id": "j_1", "trigger": {"type": "api", "user": "ops@example.com", "ip": "192.0.2.1"}}
    )
    assert job.trigger == "ops@example.com"
    assert "192.0.2.1" not in json.dumps(job.to_dict())


@pytest.mark.parametrize("text_field", ["Collector", "Template", "trigger"])
def test_parse_job_log_non_string_text_field_is_refused(text_field: str) -> None:
    with pytest.raises(JobLogError):
        parse_job_log({"id": "j_1", text_field: 42})


def test_job_log_is_immutable_and_hashable() -> None:
    job = parse_job_log(SEED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.fails = 3  # type: ignore[misc]
    assert hash(job) == hash(parse_job_log(SEED))


# --- fingerprint -----------------------------------------------------------------------------


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
    ],
)
def test_job_log_fingerprint_changes_with_what_the_monitor_acts_on(change: dict[str, Any]) -> None:
    assert parse_job_log({**SEED, **change}).fingerprint() != parse_job_log(SEED).fingerprint()


@pytest.mark.parametrize("change", [{"Job_time": 1}, {"Navigations": 9}, {"Other": "x"}])
def test_job_log_fingerprint_ignores_incidental_fields(change: dict[str, Any]) -> None:
    assert parse_job_log({**SEED, **change}).fingerprint() == parse_job_log(SEED).fingerprint()


# --- to_dict / from_dict ---------------------------------------------------------------------


def test_job_log_to_dict_is_json_safe() -> None:
    data = parse_job_log({**SEED, "Other": [1, "x"]}).to_dict()
    # Then strict JSON can carry it, with ISO strings and whole milliseconds
    json.dumps(data, allow_nan=False)
    assert data["status"] == "done"
    assert data["finished"] == "2025-04-28T13:23:28.961000Z"
    assert data["job_time_ms"] == 71459
    assert data["queue_time_ms"] == 645
    assert data["extra"] == {"Other": [1, "x"]}


@pytest.mark.parametrize(
    "payload",
    [
        SEED,
        {"id": "j_1"},
        {"id": "j_1", "status": "Exploded", "finished": FINISHED, "Fails": 3},
        {"id": "vj_2", "status": "canceled", "Inputs": "4", "Success": "3", "extra_key": None},
    ],
)
def test_job_log_from_dict_rebuilds_to_dict(payload: dict[str, Any]) -> None:
    job = parse_job_log(payload)
    stored = json.loads(json.dumps(job.to_dict()))
    assert JobLog.from_dict(stored) == job


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "payload"),
        ({}, "job_id"),
        ({"job_id": "j_1", "status": "nope"}, "status"),
        ({"job_id": "j_1", "status": "done", "fails": -2}, "fails"),
        ({"job_id": "j_1", "status": "done", "raw_status": 3}, "raw_status"),
        ({"job_id": "j_1", "status": "done", "extra": []}, "extra"),
    ],
)
def test_job_log_from_dict_refuses_bad_data(data: Any, field: str) -> None:
    with pytest.raises(JobLogError) as info:
        JobLog.from_dict(data)
    assert info.value.field == field
