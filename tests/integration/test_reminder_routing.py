"""A reminder reaches whoever its alarm reached: over the real monitor, the simulator and moto
server's SNS → SQS delivery, with the email subscription filtered as template.yaml filters it
for EmailMinSeverity=critical."""

from __future__ import annotations

import pytest

from local.simulator import BrightDataSimulator
from local.stack import MotoServer, provision
from tests.conftest import Configure
from tests.support import bad_job, collector_world, delivered, kinds, make_monitor

pytestmark = pytest.mark.integration


def test_reminder_of_a_critical_alarm_is_critical_and_reaches_critical_only_email(
    moto_server: MotoServer, simulator: BrightDataSimulator, configure: Configure
) -> None:
    # Given a stack whose email subscription takes critical alerts only
    stack = provision(
        moto_server.url,
        parameters={"EmailMinSeverity": "critical", "AlertEmail": "ops@example.com"},
    )
    sim, _, clock = collector_world(simulator, stack)
    configure(
        TABLE_NAME=stack.table_name,
        TOPIC_ARN=stack.topic_arn,
        MAX_FAILS="100",  # judge the success rate (a critical rule) alone
        REPEAT_AFTER_MINUTES="60",
    )
    # And a success-rate alarm opened by a bad job
    bad_job(sim, "j_bad1")
    make_monitor(clock).run()
    [alarm] = delivered(stack, "email")
    assert kinds(alarm) == [("ALARM", "success_rate_below_min")]

    # When the alarm stays open past the repeat interval
    clock.advance(61)
    make_monitor(clock).run()

    # Then the reminder reaches the critical-only email, as critical as its alarm
    [reminder] = delivered(stack, "email")
    assert kinds(reminder) == [("REMINDER", "success_rate_below_min")]
    assert reminder["attributes"]["severity"] == "critical"
    assert reminder["subject"].startswith("[CRITICAL]")
    assert reminder["doc"]["severity"] == "critical"
    [entry] = reminder["doc"]["entries"]
    assert (entry["severity"], entry["message"]) == ("critical", "success rate still in alarm")
