"""Specs for job_alerts.joblog under hostile answers: markup, control characters and huge values
never reach a note whole, and what gets stored stays small whatever the answer held."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from job_alerts.joblog import (
    EXTRA_OMITTED_KEY,
    MAX_EXTRA_CHARS,
    MAX_EXTRA_KEY_CHARS,
    MAX_EXTRA_KEYS,
    MAX_EXTRA_VALUE_CHARS,
    MAX_PROBLEM_CHARS,
    MAX_STORED_CHARS,
    MAX_TEXT_CHARS,
    JobLog,
    JobStatus,
    parse_job_log,
)

MARKUP = "<!channel> <https://evil.example|click> <script>alert(1)</script> &amp;"
CONTROL = "x\r\nX-Injected: 1\x1b[31m\x00\u202e"
HALF_MB = 500_000
# A note is one line of printable ASCII: nothing in it can break a terminal, a log line or a
# mail header, whatever the answer held.
ONE_PRINTABLE_LINE = re.compile(r"[\x20-\x7e]*")


def stored_size(job: JobLog) -> int:
    return len(json.dumps(job.to_dict()))


def round_trips(job: JobLog) -> bool:
    return JobLog.from_dict(json.loads(json.dumps(job.to_dict()))) == job


@pytest.mark.parametrize("hostile", [MARKUP, CONTROL, MARKUP * 1000, "\U0001f4a5" * 300])
@pytest.mark.parametrize(
    "key",
    ["Fails", "Inputs", "created", "finished", "Job_time", "Success_rate", "Collector", "status"],
)
def test_hostile_text_in_a_known_field_is_previewed_escaped_and_short(
    hostile: str, key: str
) -> None:
    # Given markup, control characters or a flood of text where a known field belongs
    job = parse_job_log({"id": "j_1", "status": "failed", "Lines": 3, key: hostile})
    # Then the job is still judged, and each note is one short printable line
    assert job.notes
    for note in job.notes:
        assert ONE_PRINTABLE_LINE.fullmatch(note), note
        assert len(note) < 300
        if len(hostile) > 100:
            assert hostile not in note
    for problem in job.problems:
        assert len(problem.problem) <= MAX_PROBLEM_CHARS


def test_hostile_unknown_status_is_kept_raw_but_noted_escaped() -> None:
    # Given a status made of markup and control characters
    raw = MARKUP + CONTROL
    job = parse_job_log({"id": "j_1", "status": raw, "Inputs": 2})
    # Then the raw text is kept as data (renderers escape their own markup) and the note is inert
    assert job.status is JobStatus.UNKNOWN
    assert job.raw_status == raw
    (note,) = job.notes
    assert note.startswith("unknown status '<!channel> <https://evil'... (")
    assert ONE_PRINTABLE_LINE.fullmatch(note)


@pytest.mark.parametrize("key", ["Template", "trigger"])
def test_hostile_markup_in_a_text_field_is_kept_as_data(key: str) -> None:
    job = parse_job_log({"id": "j_1", "status": "done", key: MARKUP})
    assert job.to_dict()[key.lower()] == MARKUP
    assert job.problems == ()


@pytest.mark.parametrize("key", ["Template", "trigger", "status", "Collector", "Fails"])
def test_hostile_half_megabyte_known_field_is_named_not_stored(key: str) -> None:
    # Given 500 KB where a short field belongs
    job = parse_job_log({"id": "j_1", "status": "failed", "Inputs": 1, key: "a" * HALF_MB})
    # Then the field is odd, the job is judged without it, and the stored form stays small
    assert [problem.field for problem in job.problems] == [key.lower()]
    assert job.status is (JobStatus.UNKNOWN if key == "status" else JobStatus.FAILED)
    assert stored_size(job) < 2_000
    assert round_trips(job)


def test_hostile_text_fields_longer_than_the_limit_say_so() -> None:
    job = parse_job_log({"id": "j_1", "status": "done", "Template": "t" * (MAX_TEXT_CHARS + 1)})
    (problem,) = job.problems
    assert problem.problem == f"too long: {MAX_TEXT_CHARS + 1} characters, at most {MAX_TEXT_CHARS}"


def test_hostile_half_megabyte_unknown_field_is_truncated_with_a_marker() -> None:
    # Given a 500 KB field this version does not know
    job = parse_job_log({"id": "j_1", "status": "done", "Debug_dump": "z" * HALF_MB})
    # When stored
    stored = job.to_dict()
    # Then a visible marker replaces all but its head, and the stored dict stays small
    value = stored["extra"]["Debug_dump"]
    assert value.startswith('"zzzz')
    assert value.endswith(f"...[truncated: {HALF_MB + 2} characters of JSON]")
    assert len(json.dumps(value)) <= MAX_EXTRA_VALUE_CHARS
    assert stored_size(job) < 1_500
    assert round_trips(job)


def test_hostile_many_unknown_keys_keep_a_bounded_few_and_count_the_rest() -> None:
    # Given a thousand unknown keys
    payload: dict[str, Any] = {"id": "j_1", "status": "done"}
    payload.update({f"k{index}": index for index in range(1000)})
    # When parsed
    extra = parse_job_log(payload).extra
    # Then the first ones are kept, and one entry counts those left out
    kept = {key: value for key, value in extra.items() if key != EXTRA_OMITTED_KEY}
    assert kept == {f"k{index}": index for index in range(MAX_EXTRA_KEYS)}
    assert extra[EXTRA_OMITTED_KEY] == 1000 - MAX_EXTRA_KEYS


def test_hostile_unknown_values_fill_the_extras_map_only_up_to_its_budget() -> None:
    # Given many unknown values, each just under the per-value limit
    payload: dict[str, Any] = {"id": "j_1", "status": "done"}
    payload.update({f"k{index}": "v" * (MAX_EXTRA_VALUE_CHARS - 2) for index in range(40)})
    job = parse_job_log(payload)
    # Then the whole map fits its budget, whole values are kept, and the rest are counted
    assert len(json.dumps(dict(job.extra))) <= MAX_EXTRA_CHARS
    assert all(
        value == "v" * (MAX_EXTRA_VALUE_CHARS - 2)
        for key, value in job.extra.items()
        if key != EXTRA_OMITTED_KEY
    )
    assert len(job.extra) - 1 + job.extra[EXTRA_OMITTED_KEY] == 40
    assert round_trips(job)


def test_hostile_long_unknown_key_is_cut_short() -> None:
    job = parse_job_log({"id": "j_1", "status": "done", "k" * 10_000: 1})
    (key,) = job.extra
    assert len(key) == MAX_EXTRA_KEY_CHARS
    assert key.endswith("...")


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("make", "stored"),
    [
        (lambda: 10**5000, "[not storable as JSON: int]"),
        # Deeper than json.dumps can recurse.
        (lambda: nested_lists(100_000), "[not storable as JSON: list]"),
    ],
    ids=["huge_int", "deep_list"],
)
def test_hostile_unknown_value_json_cannot_carry_is_replaced_by_a_marker(
    make: Any, stored: str
) -> None:
    job = parse_job_log({"id": "j_1", "status": "done", "Weird": make()})
    assert job.extra == {"Weird": stored}


def test_hostile_huge_numbers_in_known_fields_are_previewed_by_size() -> None:
    job = parse_job_log({"id": "j_1", "status": "done", "Fails": 10**5000, "created": 10**400})
    assert [problem.problem for problem in job.problems] == [
        "unreadable: expected a count from 0 to 1e+15, got a huge number",
        "unreadable: expected a time (ISO-8601, epoch seconds or milliseconds), got a huge number",
    ]


def test_hostile_worst_case_answer_stays_within_the_stored_bound() -> None:
    # Given every field as large as it can be while still being kept, and the rest odd
    astral = "\U0001f4a5" * MAX_TEXT_CHARS
    payload: dict[str, Any] = {
        "id": "j_" + "a" * 64,
        "status": astral,
        "Template": astral,
        "trigger": astral,
        "Collector": "c_" + "b" * 64,
        **dict.fromkeys(("Inputs", "Success", "Fails", "Lines", "Pages"), CONTROL * 1000),
        **dict.fromkeys(("Pages_left", "dup_inputs", "Navigations"), MARKUP * 1000),
        **{key: [MARKUP] for key in ("created", "started", "finished", "Job_time", "Queue_time")},
        "Success_rate": "\\" * 5000,
    }
    payload.update({"\u0416" * 10_000 + str(index): "\U0001f4a5" * 10_000 for index in range(50)})
    payload.update({f"\\{index}": "\\" * 100 for index in range(50)})
    # When parsed and stored
    job = parse_job_log(payload)
    # Then the stored form stays within its documented bound, and comes back whole
    assert len(job.problems) == 14
    assert stored_size(job) <= MAX_STORED_CHARS
    assert round_trips(job)
    assert len(job.fingerprint()) == 16
