"""What the README promises a person who receives an alert, checked on the email text and on
the Slack payload alike: it says why (the job's top errors and a failing input), it fits in
Slack, it counts the jobs it does not list, and it names the collector it is about.
Every Slack payload rendered here, and every golden Slack file, passes Slack's own models."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from job_alerts.alerts import (
    Alert,
    AlertEntry,
    AlertKind,
    ErrorSummary,
    JobFacts,
    render_email,
    render_slack,
    render_subject,
    to_document,
)
from job_alerts.rules import Rule, Severity
from tests.slack_blocks import block_texts, validate_slack_payload
from tests.support import ALERT_COLLECTOR, ALERT_TIME, make_alert

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def _job(job_id: str, errors: ErrorSummary | None = None) -> JobFacts:
    return JobFacts(
        job_id=job_id,
        collector_id=ALERT_COLLECTOR,
        status="done",
        settled=True,
        inputs=100,
        success=42,
        fails=58,
        lines=420,
        success_rate=0.42,
        job_time_s=600.0,
        queue_time_s=1.0,
        created=datetime(2025, 4, 28, 13, 0, tzinfo=UTC),
        started=datetime(2025, 4, 28, 13, 0, 1, tzinfo=UTC),
        finished=datetime(2025, 4, 28, 13, 10, 1, tzinfo=UTC),
        errors=errors,
    )


def _alarm(job_ids: tuple[str, ...], message: str = "success rate 42% is below 90%") -> AlertEntry:
    return AlertEntry(
        kind=AlertKind.ALARM,
        rule=Rule.SUCCESS_RATE_BELOW_MIN,
        severity=Severity.CRITICAL,
        message=message,
        observed=0.42,
        limit=0.9,
        job_ids=job_ids,
        since=ALERT_TIME,
    )


def _render(alert: Alert) -> tuple[str, dict[str, Any], str]:
    """Email body, Slack payload (checked against Slack's models) and all the Slack text."""
    doc = to_document(alert)
    email = render_email(doc)
    slack = render_slack(doc)
    validate_slack_payload(slack)
    return email, slack, "\n".join([slack["text"], *block_texts(slack)])


# --- It says why ------------------------------------------------------------------------------


def test_alert_says_why_a_job_failed_in_email_and_slack() -> None:
    # Given a job whose error log names its top error kinds and a failing input
    errors = ErrorSummary(
        kinds=(("navigation timeout after 30000 ms", 41), ("blocked by captcha", 12)),
        samples=(("https://www.amazon.com/dp/B0SAMPLE01", "navigation timeout after 30000 ms"),),
    )
    alert = make_alert(
        [_alarm(("j_why0000000000000001",))], [_job("j_why0000000000000001", errors)]
    )

    # When the alert is rendered for email and for Slack
    email, _, slack_text = _render(alert)

    # Then both name the top error kinds with their counts, and the sample failing URL
    for text in (email, slack_text):
        assert "navigation timeout after 30000 ms" in text
        assert "blocked by captcha" in text
        assert re.search(r"41 x navigation timeout", text)
        assert re.search(r"12 x blocked by captcha", text)
        assert "https://www.amazon.com/dp/B0SAMPLE01" in text


# --- It fits in Slack -------------------------------------------------------------------------


def test_slack_payload_stays_within_slack_limits_for_huge_alerts() -> None:
    # Given an alert with 30 entries of very long messages and 40 jobs with long error lists
    long_errors = ErrorSummary(
        kinds=tuple((f"error kind {n} " + "x" * 300, 1000 + n) for n in range(40)),
        samples=tuple(
            (f"https://example.com/{n}/" + "p" * 300, "failure " + "y" * 300) for n in range(40)
        ),
    )
    job_ids = tuple(f"j_long{n:016d}" for n in range(40))
    entries = [_alarm(job_ids, message="m" * 5000 + f" {n}") for n in range(30)]
    jobs = [_job(job_id, long_errors) for job_id in job_ids]
    alert = make_alert(entries, jobs, collector_name="n" * 1000, affected_jobs=400)

    # When it is rendered for Slack
    _, slack, _ = _render(alert)

    # Then every section and context text is at most 3,000 characters and there are <= 50 blocks
    assert len(slack["blocks"]) <= 50
    for block in slack["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert all(len(element["text"]) <= 3000 for element in block["elements"])
    # and the errors section was cut by whole lines, not dropped or sent whole
    error_sections = [t for t in block_texts(slack) if t.startswith("*Errors in")]
    assert error_sections
    assert all(2000 < len(text) <= 3000 for text in error_sections)


# --- It counts what it does not list ----------------------------------------------------------


def _more_jobs(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"and (\d+) more jobs", text)]


def test_alert_states_how_many_affected_jobs_are_not_listed() -> None:
    # Given 3 listed jobs out of 12 affected in this run
    jobs = [_job(f"j_count{n:014d}") for n in range(3)]
    alert = make_alert([_alarm(tuple(j.job_id for j in jobs))], jobs, affected_jobs=12)

    # When it is rendered
    email, _, slack_text = _render(alert)

    # Then both renderings say exactly 9 more jobs
    assert _more_jobs(email) == [9]
    assert _more_jobs(slack_text) == [9]


def test_slack_counts_listed_jobs_it_had_no_room_to_link() -> None:
    # Given 12 listed jobs out of 15 affected; Slack links at most 9 of them
    jobs = [_job(f"j_count{n:014d}") for n in range(12)]
    alert = make_alert([_alarm(tuple(j.job_id for j in jobs))], jobs, affected_jobs=15)

    # When it is rendered
    email, slack, slack_text = _render(alert)

    # Then the email lists all 12 and says 3 more; Slack links 9 and says 6 more
    assert email.count("Control panel:") == 12
    assert _more_jobs(email) == [3]
    context = slack["blocks"][-2]
    assert context["type"] == "context"
    assert len(context["elements"]) == 10
    assert _more_jobs(slack_text) == [6]


def test_alert_without_unlisted_jobs_does_not_claim_more() -> None:
    # Given every affected job is listed
    jobs = [_job(f"j_count{n:014d}") for n in range(2)]
    alert = make_alert([_alarm(tuple(j.job_id for j in jobs))], jobs, affected_jobs=2)

    # When it is rendered, Then neither rendering mentions more jobs
    email, _, slack_text = _render(alert)
    assert _more_jobs(email) == []
    assert _more_jobs(slack_text) == []


# --- It names the collector -------------------------------------------------------------------


def test_collector_with_id_but_no_name_is_that_collectors_alert() -> None:
    # Given a collector Bright Data gave no name for
    alert = make_alert(
        [_alarm(("j_noname00000000000001",))],
        [_job("j_noname00000000000001")],
        collector_name=None,
    )

    # When it is rendered
    email, _, slack_text = _render(alert)
    subject = render_subject(to_document(alert))

    # Then it is about that collector (its id shown, with a silence hint), not the monitor
    for text in (email, slack_text):
        assert ALERT_COLLECTOR in text
        assert "about the monitor itself" not in text
    assert f"Collector:     - ({ALERT_COLLECTOR})" in email
    assert f"job-alerts silence {ALERT_COLLECTOR}" in email
    assert f"job-alerts silence {ALERT_COLLECTOR}" in slack_text
    assert ALERT_COLLECTOR in subject
    assert "monitor" not in subject


# --- Golden Slack files pass Slack's models ---------------------------------------------------


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.slack.json")), ids=lambda path: path.name)
def test_golden_slack_payload_is_valid_for_slack(path: Path) -> None:
    # Given a golden Slack payload, When Slack's models parse it, Then it is valid
    validate_slack_payload(json.loads(path.read_text()))
