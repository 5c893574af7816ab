"""Specs for the live job problems `job-alerts status` shows beside open alarms: which live
jobs are red from their records alone (stuck after a stuck alert, unreadable), in what order,
and how the CLI caps the list and counts them in its verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts import cli, factory
from job_alerts.joblog import JobLog, JobStatus
from job_alerts.models import JobRecord
from job_alerts.status import JobProblem, MonitorHealth, StateStatus, job_problems

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
COLLECTOR = "c_reviews"


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def live_job(
    status: JobStatus | None = JobStatus.QUEUED,
    *,
    job_id: str = "j_1",
    created: float = 90,
    started: float | None = None,
    alerted: tuple[str, ...] = (),
    unreadable_reads: int = 0,
    unreadable_reason: str | None = None,
) -> JobRecord:
    """A live job's record as a run leaves it: the last read's log (none when `status` is None,
    a job never read), the rules it was alerted for, its unreadable reads in a row."""
    log = None
    if status is not None:
        log = JobLog(
            job_id=job_id,
            status=status,
            collector_id=COLLECTOR,
            created=minutes_ago(created),
            started=None if started is None else minutes_ago(started),
            finished=NOW if status is JobStatus.DONE else None,
        ).to_dict()
    return JobRecord(
        job_id=job_id,
        collector_id=COLLECTOR,
        first_seen=minutes_ago(created),
        status=None if status is None else status.value,
        log=log,
        alerted=list(alerted),
        unreadable_reads=unreadable_reads,
        unreadable_reason=unreadable_reason,
    )


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (live_job(alerted=("stuck_queued",)), [("stuck_queued", 90.0, "queued")]),
        (live_job(), []),
        (live_job(JobStatus.RUNNING, started=10, alerted=("stuck_queued",)), []),
        (
            live_job(
                JobStatus.RUNNING,
                created=400,
                started=300,
                alerted=("stuck_queued", "stuck_running"),
            ),
            [("stuck_running", 300.0, "running")],
        ),
        (
            live_job(JobStatus.PAUSED, started=300, alerted=("stuck_running",)),
            [("stuck_running", 300.0, "paused")],
        ),
        (live_job(JobStatus.DONE, started=300, alerted=("stuck_running",)), []),
        (live_job(None, alerted=("stuck_queued",)), []),
    ],
    ids=[
        "queued-alerted",
        "queued-not-alerted",
        "alerted-queued-now-running",
        "alerted-both-now-running",
        "paused-alerted",
        "settled",
        "never-read",
    ],
)
def test_job_problems_stuck_only_while_alerted_and_still_in_that_state(
    record: JobRecord, expected: list[tuple[str, float, str]]
) -> None:
    # Given a live job's record / When its problems are read
    problems = job_problems([record], NOW)
    # Then it is red for a stuck rule only if alerted for it and its last read is still stuck
    assert [(p.problem, p.for_minutes, p.detail.split()[1]) for p in problems] == expected
    assert all(p.red and p.collector_id == COLLECTOR for p in problems)


def test_job_problems_stuck_since_is_when_it_was_queued_or_started() -> None:
    running, queued = job_problems(
        [
            live_job(job_id="j_q", alerted=("stuck_queued",), created=90),
            live_job(
                JobStatus.RUNNING,
                job_id="j_r",
                created=400,
                started=300,
                alerted=("stuck_running",),
            ),
        ],
        NOW,
    )
    assert (running.job_id, running.since) == ("j_r", minutes_ago(300))
    assert (queued.job_id, queued.since) == ("j_q", minutes_ago(90))


@pytest.mark.parametrize(
    ("reads", "red", "detail"),
    [
        (1, False, "html: 1 read in a row could not be judged; red after 3"),
        (2, False, "html: 2 reads in a row could not be judged; red after 3"),
        (3, True, "html: 3 reads in a row could not be judged"),
        (7, True, "html: 7 reads in a row could not be judged"),
    ],
)
def test_job_problems_unreadable_is_red_from_the_alerting_read(
    reads: int, red: bool, detail: str
) -> None:
    record = live_job(
        JobStatus.RUNNING, started=5, unreadable_reads=reads, unreadable_reason="html"
    )
    (problem,) = job_problems([record], NOW)
    assert (problem.problem, problem.red, problem.detail) == ("job_unreadable", red, detail)
    assert (problem.since, problem.for_minutes) == (None, None)


def test_job_problems_red_first_then_oldest_first() -> None:
    problems = job_problems(
        [
            live_job(job_id="j_watch", unreadable_reads=1, unreadable_reason="html"),
            live_job(job_id="j_new", alerted=("stuck_queued",), created=70),
            live_job(job_id="j_unread", unreadable_reads=3, unreadable_reason="too_large"),
            live_job(job_id="j_old", alerted=("stuck_queued",), created=200),
        ],
        NOW,
    )
    assert [p.job_id for p in problems] == ["j_old", "j_new", "j_unread", "j_watch"]


# ---- the CLI: shown, capped, counted in the verdict ---------------------------------------------
def state_with(problems: list[JobProblem]) -> StateStatus:
    return StateStatus(
        checked_at=NOW,
        monitor=MonitorHealth("HEALTHY", None, None, None),
        open_alarms=(),
        silences=(),
        live_jobs=len(problems),
        job_problems=tuple(problems),
    )


def stuck(n: int) -> JobProblem:
    return JobProblem(
        f"j_{n:02}",
        COLLECTOR,
        "stuck_queued",
        True,
        "still queued at the latest read; alerted stuck_queued",
        since=minutes_ago(90 + n),
        for_minutes=90.0 + n,
    )


@pytest.fixture
def status_of(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`job-alerts status [--json]` over a given StateStatus: (exit code, stdout)."""
    monkeypatch.setenv("TABLE_NAME", "job-alerts-unit")
    monkeypatch.setattr(factory, "state_store", lambda _cfg: None)
    monkeypatch.setattr(factory, "clock", lambda: lambda: NOW)

    def run(state: StateStatus, *options: str) -> tuple[int, str]:
        monkeypatch.setattr("job_alerts.status.read_status", lambda *_a, **_k: state)
        code = cli.main(["status", *options])
        return code, capsys.readouterr().out

    return run


def test_status_caps_the_job_problems_it_lists_and_counts_them_all(status_of: Any) -> None:
    # Given 25 red job problems
    state = state_with([stuck(n) for n in range(25)])
    # When status is asked / Then 20 are listed, all are counted, and something is open
    code, out = status_of(state, "--json")
    document = json.loads(out)
    assert code == 1
    assert document["open"] is True
    assert len(document["job_problems"]) == 20
    assert (document["job_problems_total"], document["job_problems_red"]) == (25, 25)
    assert document["job_problems"][0] == {
        "job_id": "j_00",
        "collector_id": COLLECTOR,
        "problem": "stuck_queued",
        "red": True,
        "since": "2026-11-29T04:30:00.000Z",
        "for_minutes": 90.0,
        "detail": "still queued at the latest read; alerted stuck_queued",
    }
    code, out = status_of(state)
    assert code == 1
    assert "Job problems (25, 25 red):" in out
    line = "  j_00  c_reviews  stuck_queued  RED since 2026-11-29 04:30:00 UTC, for 1 h 30 min"
    assert line in out
    assert "j_19" in out and "j_20" not in out
    assert "  … and 5 more" in out


def test_status_job_problems_not_red_yet_leave_nothing_open(status_of: Any) -> None:
    # Given only a job whose answers could not be judged once
    watched = JobProblem(
        "j_odd", COLLECTOR, "job_unreadable", False, "html: 1 read in a row could not be judged"
    )
    # When status is asked / Then it is listed, and nothing is open
    code, out = status_of(state_with([watched]), "--json")
    assert (code, json.loads(out)["open"], json.loads(out)["job_problems_red"]) == (0, False, 0)
    code, out = status_of(state_with([watched]))
    assert "  j_odd  c_reviews  job_unreadable  not red yet  html: 1 read" in out
    assert out.rstrip().endswith("Nothing is open.")
