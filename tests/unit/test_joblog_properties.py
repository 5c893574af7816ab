"""Property specs: whatever JSON arrives, parse_job_log fails only with JobLogError; whatever it
accepts, the rules can judge, its notes are inert, and its stored form stays small."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from job_alerts.history import History, PastJob
from job_alerts.joblog import MAX_STORED_CHARS, JobLog, JobLogError, parse_job_log
from job_alerts.rules import RULES, Verdict, judge
from job_alerts.thresholds import Thresholds

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

REAL_KEYS = [
    "Id",
    "Status",
    "Collector",
    "Template",
    "Inputs",
    "dup_inputs",
    "Lines",
    "Fails",
    "Pages",
    "Pages_left",
    "Success",
    "Navigations",
    "created",
    "started",
    "finished",
    "trigger",
    "Success_rate",
    "Job_time",
    "Queue_time",
]
key_spellings = st.sampled_from(REAL_KEYS).flatmap(
    lambda key: st.sampled_from([key, key.lower(), key.upper(), f" {key} "])
)
# Values that look like what the API sends, plus near misses, plus anything at all.
plausible_values = st.one_of(
    st.sampled_from(
        ["done", "DONE", " running ", "canceled", "cancelled", "failed", "queued", "exploded", ""]
    ),
    st.integers(min_value=-3, max_value=10**6),
    st.integers(min_value=-3, max_value=10**6).map(str),
    st.floats(min_value=-0.5, max_value=1.5),
    st.floats(min_value=0, max_value=1).map(str),
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda moment: moment.isoformat()),
    st.sampled_from(["2025-04-28T13:22:16.857Z", "2025-04-28T15:22:16+02:00", "yesterday"]),
    json_values,
)
log_like_payloads = st.dictionaries(key_spellings, plausible_values, max_size=12)

# Long text made cheaply: a short piece repeated up to tens of thousands of times.
long_text = st.builds(
    lambda piece, times: piece * times,
    st.text(min_size=1, max_size=4) | st.sampled_from(["<!channel>", "\x1b[31m", "\U0001f4a5"]),
    st.integers(min_value=0, max_value=40_000),
)
hostile_values = st.one_of(
    plausible_values,
    long_text,
    st.lists(long_text, max_size=3),
    st.dictionaries(long_text, long_text, max_size=3),
    st.sampled_from(["95%", "40", 40, "1745846536857", 1745846536, 1745846536857.0]),
)
# Mostly with a status, so that most answers are judged and their stored form is checked.
hostile_payloads = st.builds(
    lambda status, rest: {"Status": status, **rest},
    st.sampled_from(["done", "failed", "running", "zorp"]) | hostile_values,
    st.dictionaries(key_spellings | long_text | st.text(max_size=8), hostile_values, max_size=40),
)
ONE_PRINTABLE_LINE = re.compile(r"[\x20-\x7e]*")

valid_thresholds = st.builds(
    Thresholds,
    min_success_rate=st.floats(min_value=0, max_value=1),
    max_fails=st.integers(min_value=0, max_value=10**6),
    max_fail_ratio=st.none() | st.floats(min_value=0, max_value=1),
    max_queue_minutes=st.floats(min_value=0.01, max_value=10**6),
    max_run_minutes=st.floats(min_value=0.01, max_value=10**6),
    min_lines=st.integers(min_value=0, max_value=10**6),
    min_lines_vs_median=st.none() | st.floats(min_value=0, max_value=1),
)
# A collector's remembered settled jobs: any number, any reported output (or none).
histories = st.builds(
    History,
    settled=st.lists(
        st.builds(
            PastJob,
            job_id=st.sampled_from(["j_abc", "j_p1", "j_p2", "j_p3", "j_p4", "j_p5", "j_p6"]),
            lines=st.none() | st.integers(min_value=0, max_value=10**9),
        ),
        max_size=25,
    ).map(tuple),
)
aware_now = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
job_ids = st.none() | st.sampled_from(["j_abc", "vj_1", " ", ""])


def _parse_or_none(payload: Any, job_id: str | None) -> JobLog | None:
    try:
        return parse_job_log(payload, job_id=job_id)
    except JobLogError:
        return None


@PROPERTY_SETTINGS
@given(payload=json_values, job_id=job_ids)
def test_parse_job_log_on_any_json_raises_only_job_log_error(
    payload: Any, job_id: str | None
) -> None:
    # Given any JSON value / When parsed / Then it is a JobLog or a JobLogError, nothing else
    result = _parse_or_none(payload, job_id)
    assert result is None or isinstance(result, JobLog)


@PROPERTY_SETTINGS
@given(
    payload=log_like_payloads,
    job_id=job_ids,
    thresholds=valid_thresholds,
    now=aware_now,
    history=histories,
)
def test_judge_never_raises_on_a_parsed_job_log(
    payload: dict[str, Any],
    job_id: str | None,
    thresholds: Thresholds,
    now: datetime,
    history: History,
) -> None:
    # Given a payload shaped like a real answer with arbitrary values
    job = _parse_or_none(payload, job_id)
    if job is None:
        return
    # When the accepted JobLog is judged
    results = judge(job, thresholds, now, history)
    # Then every enabled job rule answers once, and only a breach carries a finding
    expected = [
        rule
        for rule, spec in RULES.items()
        if spec.judge is not None
        and (spec.threshold is None or getattr(thresholds, spec.threshold.key) is not None)
    ]
    assert [result.rule for result in results] == expected
    for result in results:
        assert (result.finding is not None) == (result.verdict is Verdict.BREACH)
    # And the parsed values keep their invariants
    assert job.success_rate is None or 0 <= job.success_rate <= 1
    for moment in (job.created, job.started, job.finished):
        assert moment is None or moment.tzinfo is UTC


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_nan(item) for item in value)
    return False


@PROPERTY_SETTINGS
@given(payload=log_like_payloads)
def test_job_log_to_dict_from_dict_round_trips(payload: dict[str, Any]) -> None:
    job = _parse_or_none(payload, "j_abc")
    # NaN in an unknown field can be stored but never compares equal to itself.
    if job is None or _has_nan(dict(job.extra)):
        return
    stored = json.loads(json.dumps(job.to_dict()))
    rebuilt = JobLog.from_dict(stored)
    assert rebuilt == job
    assert rebuilt.fingerprint() == job.fingerprint()


@PROPERTY_SETTINGS
@given(payload=hostile_payloads, job_id=job_ids)
def test_parse_job_log_on_hostile_answers_raises_only_job_log_error(
    payload: dict[str, Any], job_id: str | None
) -> None:
    # Given known and unknown keys with long, nested or markup-laden values
    # When parsed / Then it is a JobLog or a JobLogError, nothing else
    result = _parse_or_none(payload, job_id)
    assert result is None or isinstance(result, JobLog)


@PROPERTY_SETTINGS
@given(payload=hostile_payloads | log_like_payloads)
def test_job_log_stored_form_stays_bounded_and_notes_inert(payload: dict[str, Any]) -> None:
    job = _parse_or_none(payload, "j_abc")
    if job is None:
        return
    # Then what a DynamoDB item would hold stays under a fixed bound
    assert len(json.dumps(job.to_dict())) <= MAX_STORED_CHARS
    # And every note is one printable ASCII line of bounded length
    for note in job.notes:
        assert ONE_PRINTABLE_LINE.fullmatch(note)
        assert len(note) < 400
    # And it comes back from storage as it was
    if not _has_nan(dict(job.extra)):
        assert JobLog.from_dict(json.loads(json.dumps(job.to_dict()))) == job
