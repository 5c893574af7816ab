"""The state items reruns add, with no server: a job remembers which job it reruns, and each
collector's count of reruns is kept per UTC day for a couple of days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from job_alerts.models import JobRecord
from job_alerts.state.items import job_item, job_record, rerun_count_key, rerun_count_ttl

NOW = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


def test_job_item_keeps_what_the_job_reruns() -> None:
    rerun = JobRecord("j_new", "c_a", NOW, source="rerun", rerun_of="j_old")
    assert job_record(job_item(rerun)).rerun_of == "j_old"
    plain = job_item(JobRecord("j_any", "c_a", NOW))
    assert "rerun_of" not in plain
    assert job_record(plain).rerun_of is None


def test_rerun_count_is_one_item_per_collector_and_utc_day() -> None:
    assert rerun_count_key("c_a", date(2026, 3, 2)) == ("RERUNS#c_a", "DAY#2026-03-02")
    assert rerun_count_key("c_a", date(2026, 3, 3)) != rerun_count_key("c_a", date(2026, 3, 2))
    assert rerun_count_key("c_b", date(2026, 3, 2)) != rerun_count_key("c_a", date(2026, 3, 2))


def test_rerun_count_expires_two_days_after_its_day_began() -> None:
    assert rerun_count_ttl(date(2026, 3, 2)) == int(datetime(2026, 3, 4, tzinfo=UTC).timestamp())
