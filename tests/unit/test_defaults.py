"""The defaults a healthy collector keeps: a job losing up to 2% of its inputs, otherwise good,
raises nothing on the catalogue's defaults, running or settled, at any size; the Fails
threshold is still there for whoever turns it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from job_alerts.joblog import JobLog, JobStatus
from job_alerts.rules import Rule, evaluate
from job_alerts.thresholds import Thresholds

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def job(inputs: int, fails: int, status: JobStatus) -> JobLog:
    settled = status is JobStatus.DONE
    return JobLog(
        job_id="j_healthy",
        status=status,
        raw_status=status.value,
        inputs=inputs,
        success=inputs - fails,
        fails=fails,
        lines=(inputs - fails) * 3,
        success_rate=(inputs - fails) / inputs,
        created=NOW - timedelta(minutes=30),
        started=NOW - timedelta(minutes=29),
        finished=NOW if settled else None,
    )


@pytest.mark.parametrize("inputs", [50, 100, 1_000, 100_000])
@pytest.mark.parametrize("status", [JobStatus.DONE, JobStatus.RUNNING])
def test_defaults_raise_nothing_for_a_job_losing_two_percent(inputs: int, status: JobStatus):
    assert evaluate(job(inputs, inputs * 2 // 100, status), Thresholds(), NOW) == []


def test_defaults_still_alarm_when_a_tenth_is_lost() -> None:
    findings = evaluate(job(1_000, 150, JobStatus.DONE), Thresholds(), NOW)
    assert [f.rule for f in findings] == [Rule.SUCCESS_RATE_BELOW_MIN]


def test_the_fails_threshold_stays_available() -> None:
    findings = evaluate(job(1_000, 20, JobStatus.DONE), Thresholds(max_fails=10), NOW)
    assert [f.rule for f in findings] == [Rule.FAILS_ABOVE_MAX]
