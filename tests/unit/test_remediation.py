"""Rerun planning, with no server: which alerted jobs get their failed inputs rerun (opted-in
collectors only, once per job, never a rerun of a rerun, never in a dry run), and what the
follow-up messages say."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

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
