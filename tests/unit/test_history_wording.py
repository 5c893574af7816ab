"""How the alerts of the collector-history rules and the rerun follow-ups read: values in the
unit they were measured in, no what-if command that would set the wrong thing, good news with
nothing to do, and a follow-up's own advice (no job_failed advice, no unfilled placeholder)."""

from __future__ import annotations

from datetime import timedelta

from job_alerts.alerts import AlertEntry, AlertKind
from job_alerts.alerts.wording import entry_summary, footer_commands, what_to_do
from job_alerts.rules import RULES, Rule, Severity
from tests.support import ALERT_TIME, make_alert


def baseline_entry() -> AlertEntry:
    return AlertEntry(
        kind=AlertKind.JOB,
        rule=Rule.OUTPUT_BELOW_BASELINE.value,
        severity=Severity.WARNING,
        message="470 output lines, 19.5% of this collector's median of 2,410",
        observed=470,
        limit=1205,
        job_ids=("j_low",),
    )


def silence_entry(kind: AlertKind = AlertKind.ALARM) -> AlertEntry:
    return AlertEntry(
        kind=kind,
        rule=Rule.COLLECTOR_SILENT.value,
        severity=Severity.CRITICAL,
        message="no job since 2026-03-02 08:00:00 UTC (usually every 25 min)",
        observed=80.0 if kind is AlertKind.ALARM else None,
        limit=75.0 if kind is AlertKind.ALARM else None,
        since=ALERT_TIME - timedelta(minutes=80),
        duration_s=None if kind is AlertKind.ALARM else 4800.0,
    )


def test_a_baseline_finding_reads_in_lines_not_as_a_share() -> None:
    assert entry_summary(baseline_entry()) == "output lines vs its median 470 < 1,205"


def test_a_silence_reads_as_a_duration_and_offers_no_what_if_with_minutes_as_a_factor() -> None:
    entry = silence_entry()
    assert entry_summary(entry) == "time without a new job 1 h 20 min > 1 h 15 min"
    commands = [command for _, command in footer_commands(make_alert([entry], []))]
    assert not any("--what-if" in command for command in commands)
    assert any(command.startswith("job-alerts thresholds --collector") for command in commands)
    assert what_to_do(entry) == RULES[Rule.COLLECTOR_SILENT].advice


def test_a_resolved_silence_has_nothing_to_do() -> None:
    entry = silence_entry(AlertKind.RESOLVED)
    assert what_to_do(entry).startswith("Nothing to do")
    assert entry_summary(entry) == "time without a new job back within limits after 1 h 20 min"


def test_a_rerun_follow_up_has_its_own_advice() -> None:
    entry = AlertEntry(
        kind=AlertKind.JOB,
        rule="rerun",
        severity=Severity.INFO,
        message="rerun j_new started for the 84 failed inputs of j_old",
        job_ids=("j_old", "j_new"),
    )
    advice = what_to_do(entry)
    assert advice.startswith("Nothing to do now") and "credits" in advice
    assert "<job_id>" not in advice and "POST /dca" not in advice
