"""Alert renderings (email subject and body, JSON document, Slack) against golden files, plus
the properties every rendering must keep: escaping, subject limits, Slack limits, round trips.
Regenerate the golden files with UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from job_alerts.alerts import (
    Alert,
    AlertEntry,
    AlertKind,
    ErrorSummary,
    JobFacts,
    from_document,
    job_link,
    render_cloudwatch_slack,
    render_email,
    render_slack,
    render_subject,
    slack_payload_for_sns,
    to_document,
)
from job_alerts.config import Deployment
from job_alerts.publish import sns_publish_request
from job_alerts.rules import Rule, Severity
from job_alerts.text import escape_mrkdwn
from tests.support import ALERT_TIME, make_alert

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
HOSTILE_NAME = "<!channel> & <https://x|y>"
# A second deployment, in another region than the CLI's default: what its alerts say of it.
STAGING = Deployment(stack="staging", region="eu-west-1", account="123456789012")


def _job(job_id: str, **changes: Any) -> JobFacts:
    facts: dict[str, Any] = {
        "job_id": job_id,
        "collector_id": "c_m9im5n7v82p2y35la",
        "status": "done",
        "settled": True,
        "inputs": 100,
        "success": 42,
        "fails": 58,
        "lines": 420,
        "success_rate": 0.42,
        "job_time_s": 8100.0,
        "queue_time_s": 0.645,
        "created": datetime(2025, 4, 28, 11, 22, 16, tzinfo=UTC),
        "started": datetime(2025, 4, 28, 11, 22, 17, tzinfo=UTC),
        "finished": datetime(2025, 4, 28, 13, 37, 17, tzinfo=UTC),
    }
    facts.update(changes)
    return JobFacts(**facts)


TIMEOUTS = ErrorSummary(
    kinds=(("navigation timeout after 30000 ms", 41), ("blocked by captcha", 12), ("404", 5)),
    samples=(
        ("https://www.amazon.com/dp/B000000001", "navigation timeout after 30000 ms"),
        ("https://www.amazon.com/dp/B000000002", "blocked by captcha"),
    ),
)


def _success_rate_alarm(job_ids: tuple[str, ...] = ("j_ma13y9ay1piehrso8r",)) -> AlertEntry:
    return AlertEntry(
        kind=AlertKind.ALARM,
        rule=Rule.SUCCESS_RATE_BELOW_MIN,
        severity=Severity.CRITICAL,
        message="success rate 42% is below the minimum 90% (42 of 100 inputs succeeded)",
        observed=0.42,
        limit=0.9,
        job_ids=job_ids,
        since=ALERT_TIME,
    )


def _job_failed(job_id: str) -> AlertEntry:
    return AlertEntry(
        kind=AlertKind.JOB,
        rule=Rule.JOB_FAILED,
        severity=Severity.CRITICAL,
        message="job ended with status failed",
        observed="failed",
        job_ids=(job_id,),
    )


def _cases() -> dict[str, Alert]:
    failed_job = _job(
        "j_failed0000000000001",
        status="failed",
        success=0,
        fails=100,
        lines=0,
        success_rate=0.0,
        errors=ErrorSummary(kinds=(("proxy error", 100),), samples=()),
    )
    cases = {
        "alarm_success_rate": make_alert(
            [_success_rate_alarm()], [_job("j_ma13y9ay1piehrso8r", errors=TIMEOUTS)]
        ),
        "job_failed": make_alert([_job_failed("j_failed0000000000001")], [failed_job]),
        "grouped": make_alert(
            [
                AlertEntry(
                    kind=AlertKind.ALARM,
                    rule=Rule.FAILS_ABOVE_MAX,
                    severity=Severity.WARNING,
                    message="58 inputs failed, more than the allowed 0",
                    observed=58,
                    limit=0,
                    job_ids=("j_ma13y9ay1piehrso8r",),
                    since=ALERT_TIME,
                ),
                _success_rate_alarm(),
                _job_failed("j_failed0000000000001"),
            ],
            [_job("j_ma13y9ay1piehrso8r", errors=TIMEOUTS), failed_job],
            affected_jobs=2,
        ),
        "resolved": make_alert(
            [
                AlertEntry(
                    kind=AlertKind.RESOLVED,
                    rule=Rule.SUCCESS_RATE_BELOW_MIN,
                    severity=Severity.INFO,
                    message="success rate back within its limit (latest job j_good00000000000001)",
                    job_ids=("j_good00000000000001",),
                    since=ALERT_TIME - timedelta(hours=2, minutes=15),
                    duration_s=8100.0,
                )
            ],
            [],
            affected_jobs=0,
        ),
        "reminder": make_alert(
            [
                AlertEntry(
                    kind=AlertKind.REMINDER,
                    rule=Rule.SUCCESS_RATE_BELOW_MIN,
                    severity=Severity.CRITICAL,
                    message="success rate still in alarm",
                    job_ids=("j_ma13y9ay1piehrso8r",),
                    since=ALERT_TIME - timedelta(hours=6),
                    duration_s=21600.0,
                )
            ],
            [],
            affected_jobs=1,
        ),
        "degraded_token_rejected": make_alert(
            [
                AlertEntry(
                    kind=AlertKind.DEGRADED,
                    rule="api_health",
                    severity=Severity.CRITICAL,
                    message="Bright Data API token rejected (401/403): no job can be read",
                    observed="token_rejected",
                    limit="healthy",
                    since=ALERT_TIME,
                )
            ],
            [],
            collector_id=None,
            collector_name=None,
            affected_jobs=0,
            alert_id="20250428T140000-monitor-0123456789ab-0",
        ),
        "test": make_alert(
            [
                AlertEntry(
                    kind=AlertKind.TEST,
                    rule="test",
                    severity=Severity.INFO,
                    message="Test alert sent by job-alerts test-alert",
                )
            ],
            [],
            collector_id=None,
            collector_name=None,
            affected_jobs=0,
            test=True,
            alert_id="test-20250428T140000",
        ),
        "hostile": make_alert(
            [
                AlertEntry(
                    kind=AlertKind.ALARM,
                    rule=Rule.SUCCESS_RATE_BELOW_MIN,
                    severity=Severity.CRITICAL,
                    message="<script>alert(1)</script> & <!here>",
                    observed=0.1,
                    limit=0.9,
                    job_ids=("j_hostile00000000001",),
                    since=ALERT_TIME,
                )
            ],
            [
                _job(
                    "j_hostile00000000001",
                    errors=ErrorSummary(
                        kinds=(("<script>x</script>\nline two", 3), ("<!everyone>", 1)),
                        samples=(("https://evil.example/<a>|<!channel>", "<@U123> & more"),),
                    ),
                )
            ],
            collector_name=HOSTILE_NAME,
        ),
    }
    # A collector's alarm, a health alert and a test alert as the stack "staging" sends them.
    for name in ("alarm_success_rate", "degraded_token_rejected", "test"):
        cases[f"staging_{name}"] = dataclasses.replace(cases[name], deployment=STAGING)
    return cases


CLOUDWATCH_ALARM = {
    "AlarmName": "job-alerts-monitor-errors",
    "AlarmDescription": "The monitor Lambda failed <twice> in 10 minutes",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [2.0 (28/04/25 13:55:00)] >= 1.0",
    "StateChangeTime": "2025-04-28T14:00:00.000+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:job-alerts-monitor-errors",
    "OldStateValue": "OK",
}

CASES = _cases()


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {name}; run with UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_renderings_match_golden_files(name: str) -> None:
    # Given an alert of one kind
    doc = to_document(CASES[name])
    # When it is rendered every way
    email = f"Subject: {render_subject(doc)}\n\n{render_email(doc)}"
    # Then each rendering is exactly the reviewed one
    _check_golden(f"{name}.txt", email)
    _check_golden(f"{name}.json", _pretty(doc))
    _check_golden(f"{name}.slack.json", _pretty(render_slack(doc)))


def test_cloudwatch_alarm_slack_matches_golden_file() -> None:
    # Given a CloudWatch alarm notification as SNS delivers it
    message = json.dumps(CLOUDWATCH_ALARM)
    # When the Slack notifier renders it
    payload = slack_payload_for_sns(message, "ALARM: job-alerts-monitor-errors")
    # Then it is the CloudWatch rendering, as reviewed
    assert payload == render_cloudwatch_slack(CLOUDWATCH_ALARM)
    _check_golden("cloudwatch_alarm.slack.json", _pretty(payload))


@pytest.mark.parametrize("name", sorted(CASES))
def test_document_round_trips_through_from_document(name: str) -> None:
    # Given the document of an alert
    alert = CASES[name]
    doc = json.loads(json.dumps(to_document(alert)))
    # When it is read back
    restored = from_document(doc)
    # Then nothing is lost (entries come back highest severity first)
    assert restored == Alert(**{**alert.__dict__, "entries": alert.ordered_entries})


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"schema_version": None}, "schema_version"),
        ({"entries": [{"kind": "NOPE"}]}, "AlertKind"),
        ({"severity": "critical", "entries": "x"}, "entries"),
        ({"collector": "c_x"}, "collector"),
        ({"test": "yes"}, "test"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"entries": []}, "at least one entry"),
    ],
)
def test_from_document_rejects_what_it_cannot_read(change: dict[str, Any], problem: str) -> None:
    # Given a document with one field wrong
    doc = {**to_document(CASES["alarm_success_rate"]), **change}
    # When / Then reading it is a ValueError that names the problem
    with pytest.raises(ValueError, match=problem):
        from_document(doc)


@pytest.mark.parametrize(
    "name",
    [
        "x" * 300,
        "line one\nline two\r\n\tthree",
        HOSTILE_NAME * 10,
        "名前" * 80,
        "\u2028\u2029\x00\x1b[31mred",
        "",
    ],
)
@pytest.mark.parametrize("grouped", [False, True])
def test_subject_is_one_short_line_for_any_collector_name(name: str, grouped: bool) -> None:
    # Given an alert for a collector with a long, multi-line or hostile name
    alert = CASES["grouped" if grouped else "alarm_success_rate"]
    doc = to_document(Alert(**{**alert.__dict__, "collector_name": name}))
    # When its subject is rendered
    subject = render_subject(doc)
    # Then SNS accepts it: under 100 characters, no line breaks or control characters
    assert len(subject) < 100
    assert subject == subject.strip()
    assert all(ch.isprintable() for ch in subject)
    assert subject.startswith("[CRITICAL]")


def test_subject_is_cut_with_an_ellipsis() -> None:
    # Given a grouped alert whose subject cannot fit
    doc = to_document(CASES["grouped"])
    # When it is rendered
    subject = render_subject(doc)
    # Then it is cut with an ellipsis, and says how many alerts it holds
    assert subject.endswith("…")
    assert subject.startswith("[CRITICAL] amazon-products: 3 alerts (success rate 42% < 90%")


@pytest.mark.parametrize("name", sorted(CASES))
def test_test_alerts_are_marked_as_tests_everywhere(name: str) -> None:
    # Given any alert sent as a test
    doc = to_document(Alert(**{**CASES[name].__dict__, "test": True}))
    # When it is rendered
    slack = render_slack(doc)
    # Then every rendering says so
    assert render_subject(doc).startswith("[TEST]")
    assert render_email(doc).startswith("THIS IS A TEST ALERT")
    assert slack["text"].startswith("[TEST]")
    assert "[TEST]" in slack["blocks"][0]["text"]["text"]
    assert doc["test"] is True


def _mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        if block["type"] == "context":
            texts += [element["text"] for element in block["elements"]]
    return texts


def test_slack_escapes_everything_from_outside() -> None:
    # Given an alert whose collector name, message and errors try to ping and to link
    payload = render_slack(to_document(CASES["hostile"]))
    texts = _mrkdwn_texts(payload)
    joined = "\n".join(texts)
    # Then no mention, script tag or disguised link survives
    for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<script>", "<https://x|"):
        assert forbidden not in joined
    assert "&lt;!channel&gt; &amp; &lt;https://x|y&gt;" in payload["text"]
    # And every "<" left opens one of our own control panel links
    for text in texts:
        for part in text.split("<")[1:]:
            assert part.startswith("https://brightdata.com/cp/scrapers/jobs/")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a & b", "a &amp; b"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("&lt;", "&amp;lt;"),
        ("plain *bold*", "plain *bold*"),
    ],
)
def test_escape_mrkdwn_neutralises_control_characters(text: str, escaped: str) -> None:
    assert escape_mrkdwn(text) == escaped


def test_slack_stays_within_block_kit_limits_for_huge_alerts() -> None:
    # Given an alert with 80 entries, 80 jobs and very long outside text
    many = [
        AlertEntry(
            kind=AlertKind.JOB,
            rule=Rule.JOB_FAILED,
            severity=Severity.CRITICAL,
            message="m" * 5000,
            job_ids=(f"j_{i:018d}",),
        )
        for i in range(80)
    ]
    jobs = [_job(f"j_{i:018d}", errors=TIMEOUTS) for i in range(80)]
    alert = make_alert(many, jobs, collector_name="n" * 5000, affected_jobs=80)
    # When it is rendered for Slack
    payload = render_slack(to_document(alert))
    # Then Slack's limits hold and the cut is said
    assert len(payload["blocks"]) <= 50
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
    assert "more (see the email)" in json.dumps(payload)
    assert len(payload["text"]) <= 3000


def test_job_link_points_at_the_control_panel_and_quotes_the_id() -> None:
    assert job_link("j_abc") == "https://brightdata.com/cp/scrapers/jobs/j_abc"
    assert job_link("j/../x?y") == "https://brightdata.com/cp/scrapers/jobs/j%2F..%2Fx%3Fy"


@pytest.mark.parametrize(
    ("message", "subject", "expected"),
    [
        ("plain <!channel> text", None, "plain &lt;!channel&gt; text"),
        ('{"not": "ours"}', "Hi <b>", '*Hi &lt;b&gt;*\n{"not": "ours"}'),
    ],
)
def test_other_sns_messages_become_escaped_text(
    message: str, subject: str | None, expected: str
) -> None:
    assert slack_payload_for_sns(message, subject) == {"text": expected}


def test_slack_refuses_a_document_of_an_unknown_schema_version() -> None:
    # Given a document from a newer version of the app
    message = json.dumps({**to_document(CASES["test"]), "schema_version": 99})
    # When / Then the notifier refuses it rather than render something wrong
    with pytest.raises(ValueError, match="schema_version"):
        slack_payload_for_sns(message)


def test_alert_needs_entries_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="entry"):
        make_alert([], [])
    with pytest.raises(ValueError, match="timezone"):
        make_alert([_success_rate_alarm()], [], created_at=datetime(2025, 1, 1))


def test_sns_publish_request_carries_document_email_and_attributes() -> None:
    # Given an alert document
    doc = to_document(CASES["alarm_success_rate"])
    # When the publish request is built
    request = sns_publish_request(doc, "arn:aws:sns:us-east-1:123456789012:alerts")
    # Then SNS gets the JSON document by default, plain text for email, and the attributes
    message = json.loads(request["Message"])
    assert request["MessageStructure"] == "json"
    assert set(message) == {"default", "email"}
    assert json.loads(message["default"]) == doc
    assert message["email"] == render_email(doc)
    assert request["Subject"] == render_subject(doc)
    assert request["MessageAttributes"]["severity"] == {
        "DataType": "String",
        "StringValue": "critical",
    }


def test_sns_publish_request_drops_job_details_to_fit_the_size_limit() -> None:
    # Given an alert about 400 jobs with long error details (far beyond 256 KB)
    errors = ErrorSummary(
        kinds=tuple((f"error {i} " + "x" * 150, i) for i in range(5)),
        samples=tuple((f"https://example.com/{'p' * 190}{i}", "e" * 150) for i in range(3)),
    )
    jobs = [_job(f"j_{i:018d}", errors=errors) for i in range(400)]
    doc = to_document(make_alert([_success_rate_alarm()], jobs))
    # When the publish request is built
    request = sns_publish_request(doc, "arn:aws:sns:us-east-1:123456789012:alerts")
    # Then it fits, lists fewer jobs, and still says how many were affected
    assert len(request["Message"].encode()) <= 256 * 1024 - 4096
    published = json.loads(json.loads(request["Message"])["default"])
    assert 0 < len(published["jobs"]) < 400
    assert published["affected_jobs"] == 400
    assert "more jobs not listed" in json.loads(request["Message"])["email"]


def test_render_unsettled_job_rate_is_so_far_and_stuck_advice_does_not_say_rerun() -> None:
    # Given a stuck_queued alert about a job that has not started
    job = JobFacts(
        job_id="j_queued000000000001",
        collector_id="c_abc",
        status="queued",
        settled=False,
        inputs=250,
        success=0,
        fails=0,
        success_rate=0.0,
    )
    entry = AlertEntry(
        kind=AlertKind.JOB,
        rule="stuck_queued",
        severity=Severity.WARNING,
        message="queued for 1 h 5 min, longer than the allowed 1 h",
        observed=65.0,
        limit=60.0,
        job_ids=(job.job_id,),
    )
    alert = Alert(
        alert_id="a-stuck",
        collector_id="c_abc",
        collector_name="abc",
        entries=(entry,),
        jobs=(job,),
        affected_jobs=1,
        created_at=datetime(2026, 3, 2, 9, 15, tzinfo=UTC),
    )
    doc = to_document(alert)
    # When it is rendered for email and Slack
    email = render_email(doc)
    slack = json.dumps(render_slack(doc))
    # Then the rate is "so far", and the advice is to check or cancel, not to rerun
    assert "Success so far: 0%" in email
    assert "success so far 0%" in slack
    assert "Success rate:" not in email
    assert "/rerun" not in email
    assert "max_queue_minutes" in email


def _threshold_alert(rule: str, observed: float | int, limit: float | int) -> dict[str, Any]:
    entry = AlertEntry(
        kind=AlertKind.ALARM,
        rule=rule,
        severity=Severity.WARNING,
        message="over the limit",
        observed=observed,
        limit=limit,
        job_ids=("j_measured0000000001",),
    )
    return to_document(make_alert([entry], []))


@pytest.mark.parametrize(
    ("rule", "observed", "limit", "measure"),
    [
        (Rule.SUCCESS_RATE_BELOW_MIN, 0.42, 0.9, "success rate 42% < 90%"),
        (Rule.FAIL_RATIO_ABOVE_MAX, 0.255, 0.2, "fail ratio 25.5% > 20%"),
        (Rule.FAILS_ABOVE_MAX, 1234, 0, "failed inputs 1,234 > 0"),
        (Rule.OUTPUT_BELOW_MIN, 0, 1, "output lines 0 < 1"),
        (Rule.STUCK_QUEUED, 65.04, 60.0, "queued 1 h 5 min > 1 h"),
        (Rule.STUCK_RUNNING, 241.55, 240.0, "running 4 h 2 min > 4 h"),
        (Rule.STUCK_RUNNING, 240.1, 240.0, "running 4 h 6 s > 4 h"),
        (Rule.SUCCESS_RATE_BELOW_MIN, 0.8999, 0.9, "success rate 89.99% < 90%"),
    ],
)
def test_render_measure_reads_in_the_rules_subject_unit_and_direction(
    rule: Rule, observed: float | int, limit: float | int, measure: str
) -> None:
    # Given an alert about one threshold rule with its observed value and limit
    doc = _threshold_alert(rule, observed, limit)
    # When it is rendered
    email = render_email(doc)
    # Then subject, email and Slack say it the way the rule catalogue describes the rule
    assert render_subject(doc) == f"[WARNING] amazon-products: {measure}"
    assert f"Observed vs limit: {measure}\n" in email
    assert escape_mrkdwn(measure) in render_slack(doc)["blocks"][3]["text"]["text"]


@pytest.mark.parametrize("rule", [Rule.JOB_FAILED, Rule.JOB_CANCELLED, "api_health"])
def test_render_rules_without_a_threshold_show_no_measure(rule: str) -> None:
    # Given an entry of a rule with no limit to compare against, but with values
    doc = _threshold_alert(rule, 1, 2)
    # When it is rendered for email / Then there is no "observed vs limit" line
    assert "Observed vs limit" not in render_email(doc)


@pytest.mark.parametrize(
    ("rule", "state"), [("stuck_queued", "queued"), ("stuck_running", "running")]
)
def test_render_stuck_advice_is_check_or_cancel_for_any_kind(rule: str, state: str) -> None:
    # Given a stuck-job entry, whichever kind of alert carries it
    for kind in (AlertKind.JOB, AlertKind.ALARM, AlertKind.REMINDER):
        entry = AlertEntry(kind=kind, rule=rule, severity=Severity.WARNING, message="stuck")
        email = render_email(to_document(make_alert([entry], [])))
        # Then the advice is the rule's own: check or cancel, raise its limit; never rerun
        assert f"What to do: The job is still {state}: check its progress" in email
        assert f"raise `max_{'queue' if state == 'queued' else 'run'}_minutes`" in email
        assert "/rerun" not in email
