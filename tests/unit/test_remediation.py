"""Rerun planning, with no server: which alerted jobs get their failed inputs rerun (opted-in
collectors only, once per job, never a rerun of a rerun, never in a dry run), and what the
follow-up messages say."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from job_alerts.alerts import AlertKind
from job_alerts.config import Settings
from job_alerts.decide import JudgedJob, decide_collector
from job_alerts.joblog import JobLog, parse_job_log
from job_alerts.models import JobRecord
from job_alerts.remediation import (
    RERUN,
    RERUN_RESULT,
    RERUN_STARTED,
    RerunRequest,
    plan_reruns,
    rerun_refused,
    rerun_settled,
    rerun_started,
)
from job_alerts.thresholds import Thresholds

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPTED = Settings(rerun_collectors=("c_opt",))


def job(job_id: str = "j_a", collector: str = "c_opt", **fields: Any) -> JobLog:
    payload = {
        "Id": job_id,
        "Collector": collector,
        "Status": "done",
        "Inputs": 30,
        "Success": 0,
        "Fails": 30,
        "Lines": 0,
        **fields,
    }
    return parse_job_log(payload)


def record(job_id: str = "j_a", collector: str = "c_opt", **fields: Any) -> JobRecord:
    return JobRecord(job_id=job_id, collector_id=collector, first_seen=NOW, **fields)


def plan(items: list[tuple[JobRecord, JobLog]], **kwargs: Any) -> list[RerunRequest]:
    thresholds = kwargs.pop("thresholds", Thresholds())
    settings = kwargs.pop("settings", OPTED)
    return plan_reruns(items, lambda _cid: thresholds, settings, **kwargs)


def test_an_opted_in_collector_reruns_a_settled_job_with_failures() -> None:
    assert plan([(record(), job())]) == [RerunRequest("j_a", "c_opt", 30, 3)]


def test_the_override_document_opts_a_collector_in_too() -> None:
    thresholds = Thresholds(rerun_failed_inputs=True, max_reruns_per_day=5)
    items = [(record(collector="c_doc"), job(collector="c_doc"))]
    assert plan(items, thresholds=thresholds, settings=Settings()) == [
        RerunRequest("j_a", "c_doc", 30, 5)
    ]


@pytest.mark.parametrize(
    ("item", "kwargs"),
    [
        ((record(collector="c_other"), job(collector="c_other")), {}),  # not opted in
        ((record(), job(Status="running")), {}),  # still live
        ((record(), job(Fails=0, Success=30)), {}),  # nothing failed
        ((record(rerun_of="j_orig"), job()), {}),  # a rerun is never rerun
        ((record(alerted=[RERUN]), job()), {}),  # rerun by an earlier run
        ((record(), job()), {"claimed": {"j_a": {RERUN}}}),  # rerun earlier in this run
        ((record(), job()), {"dry_run": True}),
        ((record(), job()), {"thresholds": Thresholds(max_reruns_per_day=0)}),
    ],
    ids=["not-opted-in", "live", "no-fails", "a-rerun", "rerun-before", "claimed", "dry", "cap-0"],
)
def test_no_rerun(item: tuple[JobRecord, JobLog], kwargs: dict[str, Any]) -> None:
    assert plan([item], **kwargs) == []


def test_follow_ups_name_the_jobs_and_claim_once() -> None:
    request = RerunRequest("j_a", "c_opt", 30, 3)
    entry, claim = rerun_started(request, "j_new", NOW, OPTED)
    assert entry.message.startswith("rerun j_new started for the 30 failed inputs of j_a")
    assert entry.job_ids == ("j_a", "j_new") and entry.severity.value == "info"
    assert (claim.job_id, claim.rule) == ("j_a", RERUN_STARTED)
    entry, claim = rerun_refused(request, "Bright Data answered 500", NOW, OPTED)
    assert "not started: Bright Data answered 500" in entry.message
    assert entry.severity.value == "warning" and claim.rule == RERUN_STARTED


def test_a_settled_rerun_says_what_it_recovered_once() -> None:
    rerun = record("j_new", rerun_of="j_a")
    done = job("j_new", Inputs=30, Success=28, Fails=2)
    told = rerun_settled(rerun, done, set(), NOW, OPTED)
    assert told is not None
    entry, claim = told
    assert entry.message == "rerun j_new of j_a recovered 28 of 30 inputs"
    assert (claim.job_id, claim.rule) == ("j_new", RERUN_RESULT)
    assert rerun_settled(rerun, done, {RERUN_RESULT}, NOW, OPTED) is None
    assert rerun_settled(rerun, job("j_new", Status="running"), set(), NOW, OPTED) is None
    assert rerun_settled(record("j_new"), done, set(), NOW, OPTED) is None


@pytest.mark.parametrize(
    ("rerun", "told"),
    [
        (record("j_new", rerun_of="j_a"), ["rerun j_new of j_a recovered 28 of 30 inputs"]),
        (record("j_new", rerun_of="j_a", alerted=[RERUN_RESULT]), []),
        (record("j_new"), []),
    ],
    ids=["settled rerun", "already told", "not a rerun"],
)
def test_the_decide_stage_tells_a_settled_rerun_once(rerun: JobRecord, told: list[str]) -> None:
    settled = job("j_new", Success=28, Fails=2)
    judged = [JudgedJob(settled, rerun, ())]
    decision = decide_collector("c_opt", None, judged, {}, OPTED, NOW)
    assert [e.message for e in decision.entries if e.rule == RERUN] == told
    assert [c.rule for c in decision.claims] == [RERUN_RESULT] * len(told)


# --- edges that mutation testing showed untested ---------------------------------------------


def test_every_owed_rerun_is_planned_after_one_that_is_not() -> None:
    # Given a job that is not rerun (not opted in) before two that are
    items = [
        (record("j_other", collector="c_other"), job("j_other", collector="c_other")),
        (record("j_b"), job("j_b")),
        (record("j_c"), job("j_c")),
    ]
    # Then both owed reruns are planned
    assert [r.job_id for r in plan(items)] == ["j_b", "j_c"]
    for skipped in (
        (record("j_live"), job("j_live", Status="running")),
        (record("j_ok"), job("j_ok", Fails=0, Success=30)),
        (record("j_r", rerun_of="j_x"), job("j_r")),
        (record("j_done", alerted=[RERUN]), job("j_done")),
    ):
        assert [r.job_id for r in plan([skipped, (record("j_b"), job("j_b"))])] == ["j_b"]


def test_the_collector_comes_from_the_record_when_the_log_names_none() -> None:
    unnamed = parse_job_log({"Id": "j_a", "Status": "done", "Inputs": 5, "Fails": 5})
    assert plan([(record(), unnamed)]) == [RerunRequest("j_a", "c_opt", 5, 3)]


def test_thresholds_are_those_of_the_jobs_collector_and_a_cap_of_one_allows_one() -> None:
    seen: list[str | None] = []

    def thresholds_for(collector: str | None) -> Thresholds:
        seen.append(collector)
        return Thresholds(max_reruns_per_day=1)

    planned = plan_reruns([(record(), job())], thresholds_for, OPTED)
    assert seen == ["c_opt"] and planned == [RerunRequest("j_a", "c_opt", 30, 1)]


def test_follow_up_entries_and_claims_in_full() -> None:
    one = RerunRequest("j_a", "c_opt", 1, 3)
    entry, claim = rerun_started(one, "j_new", NOW, OPTED)
    assert (entry.kind, entry.rule) == (AlertKind.JOB, RERUN)
    assert "for the 1 failed input of j_a" in entry.message
    assert (claim.at, claim.ttl_days) == (NOW, OPTED.history_ttl_days)
    entry, claim = rerun_refused(one, "x" * 500, NOW, OPTED)
    assert (entry.kind, entry.rule, entry.job_ids) == (AlertKind.JOB, RERUN, ("j_a",))
    assert len(entry.message) == 400
    assert (claim.job_id, claim.at, claim.ttl_days) == ("j_a", NOW, OPTED.history_ttl_days)
    rerun = record("j_new", rerun_of="j_a")
    told = rerun_settled(rerun, job("j_new", Inputs=None, Success=None), set(), NOW, OPTED)
    assert told is not None
    entry, claim = told
    assert entry.message == "rerun j_new of j_a ended done (its counts were not reported)"
    assert (entry.kind, entry.severity.value, entry.job_ids) == (
        AlertKind.JOB,
        "info",
        ("j_new", "j_a"),
    )
    assert (claim.at, claim.ttl_days) == (NOW, OPTED.history_ttl_days)
    half = rerun_settled(rerun, job("j_new", Inputs=None, Success=3), set(), NOW, OPTED)
    assert half is not None and "its counts were not reported" in half[0].message
