"""The heartbeat alarm fits any schedule up to every 3 days: each HeartbeatPeriodSeconds the
template allows makes an alarm CloudWatch accepts, covering exactly that many seconds, and every
schedule up to rate(3 days) has a value at least twice its interval, as the parameter advises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local.cfn_yaml import load_template, resolve

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
HEARTBEAT: dict[str, Any] = TEMPLATE["Parameters"]["HeartbeatPeriodSeconds"]
SCHEDULE: dict[str, Any] = TEMPLATE["Parameters"]["ScheduleExpression"]

# CloudWatch PutMetricAlarm: Period is 10, 20, 30 or a multiple of 60; Period x EvaluationPeriods
# is at most 7 days, and at most 1 day when Period is under an hour.
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
MAX_RANGE = 7 * 86_400
MAX_RANGE_SUB_HOUR_PERIOD = 86_400
RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
UNIT_SECONDS = {"minute": 60, "hour": 3_600, "day": 86_400}


def rate_seconds(expression: str) -> int:
    match = RATE.fullmatch(expression)
    assert match is not None, f"not a rate expression: {expression}"
    return int(match[1]) * UNIT_SECONDS[match[2].removesuffix("s")]


def heartbeat_alarm(seconds: object) -> dict[str, Any]:
    resources = resolve(TEMPLATE, {"HeartbeatPeriodSeconds": str(seconds)})["Resources"]
    properties: dict[str, Any] = resources["MonitorHeartbeatAlarm"]["Properties"]
    return properties


@pytest.mark.parametrize("seconds", HEARTBEAT["AllowedValues"])
def test_heartbeat_every_allowed_value_makes_an_alarm_cloudwatch_accepts(seconds: int) -> None:
    # Given the alarm deployed with this heartbeat
    alarm = heartbeat_alarm(seconds)
    period, evaluations = int(alarm["Period"]), int(alarm["EvaluationPeriods"])
    # Then its period is one CloudWatch accepts
    assert period in HIGH_RESOLUTION_PERIODS or period % 60 == 0
    # and its evaluation range is within CloudWatch's limit for that period
    limit = MAX_RANGE_SUB_HOUR_PERIOD if period < 3_600 else MAX_RANGE
    assert period * evaluations <= limit
    # and it covers exactly the heartbeat, every period breaching: no run in that many seconds
    assert period * evaluations == seconds
    assert int(alarm.get("DatapointsToAlarm", evaluations)) == evaluations


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(5 minutes)",
        "rate(30 minutes)",
        "rate(1 hour)",
        "rate(2 hours)",
        "rate(6 hours)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(3 days)",
    ],
)
def test_heartbeat_a_schedule_up_to_every_3_days_has_one_twice_its_interval(
    schedule: str,
) -> None:
    interval = rate_seconds(schedule)
    assert any(seconds >= 2 * interval for seconds in HEARTBEAT["AllowedValues"])


def test_heartbeat_default_is_at_least_twice_the_default_schedule() -> None:
    assert HEARTBEAT["Default"] >= 2 * rate_seconds(SCHEDULE["Default"])


def test_heartbeat_description_tells_how_to_pick_it_from_the_schedule() -> None:
    # The advice names the schedule parameter and the factor the tests above hold values to
    description = " ".join(HEARTBEAT["Description"].split())
    assert "at least twice the ScheduleExpression interval" in description
    examples = re.findall(r"(\d+) for (rate\([^)]+\))", description)
    assert examples
    for text, schedule in examples:
        seconds = int(text)
        assert seconds in HEARTBEAT["AllowedValues"]
        assert seconds >= 2 * rate_seconds(schedule)
