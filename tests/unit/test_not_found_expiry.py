"""The persist stage and a 404, with no server: one 404 is a glitch, not the end of a job. A job
expires only after 3 reads answering 404 whose first and last are at least 30 minutes apart, or
on a 404 once it is older than Bright Data keeps it (batch j_ 16 days, real-time vj_ 7 days).
Between runs each job goes through the item codec, as it does through the table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_alerts.brightdata import NotFound, Transient
from job_alerts.joblog import parse_job_log
from job_alerts.models import JobRecord
from job_alerts.monitor import persist
from job_alerts.reading import ReadOutcome
from job_alerts.recording import Recorder
from job_alerts.state.items import LIVE, job_item, job_record

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CID = "c_shop"


class TableOfJobs:
    """The job items persist writes, kept as the table keeps them; counts the writes."""

    def __init__(self, record: JobRecord) -> None:
        self.items = {record.job_id: job_item(record)}
        self.writes = 0

    def put_jobs(self, records: Sequence[JobRecord]) -> None:
        self.writes += 1
        self.items.update((r.job_id, job_item(r)) for r in records)

    def job(self, job_id: str) -> JobRecord:
        return job_record(self.items[job_id])

    def is_live(self, job_id: str) -> bool:
        return self.items[job_id].get("gsi1pk") == LIVE


def recorder(table: TableOfJobs) -> Recorder:
    """A record stage that recorded nothing (a 404 or an unchanged job gives it nothing to do)."""
    return Recorder(
        table,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        run_id="unit",
        history_ttl_days=1,
        lease_until=lambda now: now,
        dry_run=False,
    )


def log_payload(job_id: str, status: str = "running", **fields: Any) -> dict[str, Any]:
    payload = {
        "Id": job_id,
        "Collector": CID,
        "Status": status,
        "Inputs": 10,
        "Success": 1,
        "Fails": 0,
        "Lines": 1,
        "created": (NOW - timedelta(minutes=5)).isoformat(),
    }
    return {**payload, **fields}


def run(table: TableOfJobs, job_id: str, now: datetime, answer: Any) -> tuple[int, int]:
    """One persist stage after reading `job_id` at `now`: `answer` is a log payload or the
    error the read raised. Returns (settled, expired)."""
    record = table.job(job_id)
    if isinstance(answer, Exception):
        outcome = ReadOutcome(record, error=answer)
    else:
        outcome = ReadOutcome(record, job=parse_job_log(answer, job_id=job_id))
    return persist(table, [outcome], {}, {CID}, recorder(table), now)  # type: ignore[arg-type]


def not_found() -> NotFound:
    return NotFound("GET /dca/log/{id}: not found or expired (404)", status=404)


def tracked(job_id: str, first_seen: datetime = NOW, **fields: Any) -> TableOfJobs:
    """A live job, read fine once at `first_seen` (so its last log is stored)."""
    table = TableOfJobs(JobRecord(job_id=job_id, collector_id=CID, first_seen=first_seen))
    run(table, job_id, first_seen, log_payload(job_id, **fields))
    return table


def test_persist_one_not_found_keeps_a_fresh_job_live_and_counts_it() -> None:
    # Given a running job read fine 5 minutes ago
    table = tracked("j_fresh")
    # When its next read answers 404
    settled, expired = run(table, "j_fresh", NOW + timedelta(minutes=5), not_found())
    # Then it is not expired: it stays live, the 404 counted (a write), to be read again
    assert (settled, expired) == (0, 0)
    job = table.job("j_fresh")
    assert not job.expired
    assert table.is_live("j_fresh")
    assert job.not_found_reads == 1
    assert job.first_not_found == NOW + timedelta(minutes=5)


def test_persist_three_not_found_within_ten_minutes_do_not_expire() -> None:
    # Given a running job
    table = tracked("j_blip")
    # When three reads 5 minutes apart answer 404 (first to last: 10 minutes)
    results = [
        run(table, "j_blip", NOW + timedelta(minutes=minutes), not_found())
        for minutes in (5, 10, 15)
    ]
    # Then it is still live: repeated, but not spread over 30 minutes
    assert results == [(0, 0)] * 3
    assert not table.job("j_blip").expired
    assert table.is_live("j_blip")
    assert table.job("j_blip").not_found_reads == 3


@pytest.mark.parametrize(
    ("minutes", "expires"),
    [
        pytest.param((5, 20, 34), False, id="29_min_apart"),
        pytest.param((5, 20, 35), True, id="30_min_apart"),
        pytest.param((5, 25, 45), True, id="40_min_apart"),
        pytest.param((5, 10, 15, 20, 25, 30, 35), True, id="every_5_min_until_30"),
    ],
)
def test_persist_expires_after_three_not_found_at_least_30_minutes_apart(
    minutes: tuple[int, ...], expires: bool
) -> None:
    # Given a running job
    table = tracked("j_gone")
    # When every read from then on answers 404
    results = [run(table, "j_gone", NOW + timedelta(minutes=m), not_found()) for m in minutes]
    # Then only the read that makes 3 404s spread over 30 minutes expires it, once
    assert [r[1] for r in results] == [0] * (len(minutes) - 1) + [int(expires)]
    assert table.job("j_gone").expired is expires
    assert table.is_live("j_gone") is not expires


@pytest.mark.parametrize(
    ("job_id", "age", "expires"),
    [
        pytest.param("j_old", timedelta(days=16, minutes=1), True, id="batch_past_16_days"),
        pytest.param("j_old", timedelta(days=15, hours=23), False, id="batch_within_16_days"),
        pytest.param("vj_old", timedelta(days=7, minutes=1), True, id="real_time_past_7_days"),
        pytest.param("vj_old", timedelta(days=6, hours=23), False, id="real_time_within_7"),
    ],
)
def test_persist_job_older_than_retention_expires_on_its_first_not_found(
    job_id: str, age: timedelta, expires: bool
) -> None:
    # Given a job first seen `age` ago
    table = tracked(job_id, first_seen=NOW - age)
    # When its read answers 404 for the first time
    _, expired = run(table, job_id, NOW, not_found())
    # Then it expires at once when Bright Data no longer keeps jobs that old
    assert expired == int(expires)
    assert table.job(job_id).expired is expires


def test_persist_job_created_before_retention_expires_on_its_first_not_found() -> None:
    # Given a job seen only minutes ago whose log says it was created 17 days ago
    table = tracked("j_ancient", created=(NOW - timedelta(days=17)).isoformat())
    # When its read answers 404
    _, expired = run(table, "j_ancient", NOW + timedelta(minutes=5), not_found())
    # Then it expires: its creation, not when the monitor first saw it, dates it
    assert expired == 1
    assert not table.is_live("j_ancient")


def test_persist_a_good_read_between_not_found_resets_the_count() -> None:
    # Given a job whose reads answered 404 twice, 25 minutes apart
    table = tracked("j_flaky")
    run(table, "j_flaky", NOW + timedelta(minutes=5), not_found())
    run(table, "j_flaky", NOW + timedelta(minutes=30), not_found())
    # When it reads fine again (unchanged otherwise)
    writes = table.writes
    run(table, "j_flaky", NOW + timedelta(minutes=35), log_payload("j_flaky"))
    # Then the count is reset, which costs a write
    assert table.writes == writes + 1
    assert table.job("j_flaky").not_found_reads == 0
    assert table.job("j_flaky").first_not_found is None
    # And a later 404 starts counting afresh: the earlier ones no longer count
    assert run(table, "j_flaky", NOW + timedelta(minutes=40), not_found()) == (0, 0)
    assert table.job("j_flaky").not_found_reads == 1
    assert table.is_live("j_flaky")


def test_persist_a_failed_call_between_not_found_keeps_the_count() -> None:
    # Given a job whose read answered 404 once
    table = tracked("j_slow")
    run(table, "j_slow", NOW + timedelta(minutes=5), not_found())
    # When the next read fails in transit (it tells nothing about the job)
    writes = table.writes
    run(table, "j_slow", NOW + timedelta(minutes=10), Transient("GET /dca/log/{id}: 503"))
    # Then nothing is written and the 404 still counts
    assert table.writes == writes
    assert table.job("j_slow").not_found_reads == 1


def test_persist_quiet_read_of_a_job_without_not_found_writes_nothing() -> None:
    # Given a running job read fine once
    table = tracked("j_quiet")
    writes = table.writes
    # When it reads the same again
    run(table, "j_quiet", NOW + timedelta(minutes=5), log_payload("j_quiet"))
    # Then no write: a quiet run stays free
    assert table.writes == writes


def test_job_item_keeps_the_not_found_count_and_old_items_still_load() -> None:
    counted = JobRecord(
        "j_counted", CID, NOW, not_found_reads=2, first_not_found=NOW + timedelta(minutes=1)
    )
    again = job_record(job_item(counted))
    assert (again.not_found_reads, again.first_not_found) == (2, NOW + timedelta(minutes=1))
    # An item written before the count existed (or with none) holds neither field and loads
    plain = job_item(JobRecord("j_plain", CID, NOW))
    assert "not_found_reads" not in plain
    assert "first_not_found" not in plain
    loaded = job_record(plain)
    assert (loaded.not_found_reads, loaded.first_not_found) == (0, None)
