"""Reminders of open alarms, decided with no server: a reminder is as severe as its alarm and
names the rule by its subject, like the RESOLVED that will end it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from job_alerts.alerts import AlertEntry, AlertKind
from job_alerts.config import Settings
from job_alerts.decide import decide_collector
from job_alerts.models import AlarmState, RuleAlarm
from job_alerts.rules import Severity

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CID = "c_shop"


def remind(rule: str) -> AlertEntry:
    """The one entry a run with nothing new to judge decides for `rule`'s alarm, open for 4 h
    and last told 2 h ago, with reminders every hour."""
    since = NOW - timedelta(hours=4)
    alarm = RuleAlarm(
        CID,
        rule,
        state=AlarmState.ALARM,
        version=5,
        alarm_since=since,
        last_notified=NOW - timedelta(hours=2),
        alarm_jobs=["j_bad0"],
        exists=True,
    )
    settings = Settings(repeat_after_minutes=60)
    decision = decide_collector(CID, "Shop", [], {rule: alarm}, settings, NOW)
    (entry,) = decision.entries
    assert entry.kind is AlertKind.REMINDER
    return entry


@pytest.mark.parametrize(
    ("rule", "severity", "message"),
    [
        ("success_rate_below_min", Severity.CRITICAL, "success rate still in alarm"),
        ("collector_silent", Severity.CRITICAL, "time without a new job still in alarm"),
        ("fails_above_max", Severity.WARNING, "failed inputs still in alarm"),
    ],
)
def test_reminder_has_its_alarms_severity_and_names_the_rule_by_subject(
    rule: str, severity: Severity, message: str
) -> None:
    # Given an open alarm of `rule`, When a run reminds of it
    entry = remind(rule)
    # Then the reminder is as severe as the rule and says what is still wrong in words
    assert (entry.rule, entry.severity, entry.message) == (rule, severity, message)


def test_reminder_of_an_alarm_whose_rule_left_the_catalogue_is_still_sent() -> None:
    # Given an open alarm stored under a rule id the catalogue no longer has
    entry = remind("retired_rule")
    # Then it is reminded as before: a warning naming the stored id
    assert (entry.severity, entry.message) == (Severity.WARNING, "retired_rule still in alarm")
