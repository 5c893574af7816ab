"""Slack rendering of a CloudWatch alarm notification (the alarm JSON SNS delivers when one of
the stack's own alarms changes state), with the deployment it belongs to. A pure function of
that JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from job_alerts.alerts.blockkit import context, esc, section
from job_alerts.alerts.wording import deployment_text
from job_alerts.config import Deployment
from job_alerts.text import moment
from job_alerts.timeutil import parse_moment

__all__ = ["render_cloudwatch_slack"]

# The template names no alarm, so CloudFormation names each <stack>-<logical id>-<random suffix>
# (every alarm's logical id ends in "Alarm"): the stack is what comes before.
_GENERATED_ALARM_NAME = re.compile(
    r"(?P<stack>[A-Za-z][-A-Za-z0-9]*)-[A-Za-z0-9]+Alarm-[A-Z0-9]{8,16}"
)

_ALARM_STATE_EMOJI: Mapping[str, str] = {
    "ALARM": ":red_circle:",
    "OK": ":white_check_mark:",
    "INSUFFICIENT_DATA": ":grey_question:",
}


def _console_link(alarm_arn: str, name: str) -> str | None:
    """The alarm's page in the CloudWatch console, when the ARN says which region it is in."""
    arn_parts = alarm_arn.split(":")
    if len(arn_parts) < 7 or arn_parts[2] != "cloudwatch":
        return None
    region = quote(arn_parts[3], safe="")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
    )


def _alarm_deployment(alarm: Mapping[str, Any], name: str) -> Deployment | None:
    """The stack (from the name CloudFormation gave the alarm), region and account (from its
    ARN) the alarm belongs to; None when the notification says none of them."""
    arn = str(alarm.get("AlarmArn") or "").split(":")
    has_arn = len(arn) >= 7 and arn[2] == "cloudwatch"
    generated = _GENERATED_ALARM_NAME.fullmatch(name)
    deployment = Deployment(
        stack=generated["stack"] if generated else None,
        region=(arn[3] if has_arn else None) or None,
        account=(arn[4] if has_arn else None) or str(alarm.get("AWSAccountId") or "") or None,
    )
    return deployment if deployment != Deployment() else None


def _changed_at(value: Any) -> str:
    """When the alarm changed state, as every other moment reads; as CloudWatch wrote it when
    that is no time."""
    try:
        return moment(parse_moment(value))
    except ValueError:
        return str(value)


def render_cloudwatch_slack(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """Slack payload for a CloudWatch alarm notification (the alarm JSON SNS delivers)."""
    name = str(alarm.get("AlarmName") or "unnamed alarm")
    new_state = str(alarm.get("NewStateValue") or "UNKNOWN")
    old_state = str(alarm.get("OldStateValue") or "?")
    emoji = _ALARM_STATE_EMOJI.get(new_state, ":grey_question:")
    # Plain-text header: only known state names, never outside text.
    shown_state = new_state if new_state in _ALARM_STATE_EMOJI else "changed state"
    lines = [
        f"*Alarm:* {esc(name, 250)}",
        f"*State:* {esc(old_state, 40)} → *{esc(new_state, 40)}*",
        f"*Reason:* {esc(str(alarm.get('NewStateReason') or '-'), 1000)}",
        f"*Changed at:* {esc(_changed_at(alarm.get('StateChangeTime')), 60)}",
    ]
    description = alarm.get("AlarmDescription")
    if description:
        lines.insert(1, f"*About:* {esc(str(description), 1000)}")
    deployment = _alarm_deployment(alarm, name)
    if deployment is not None:
        lines.append(f"*Deployment:* {esc(deployment_text(deployment), 400)}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{emoji} CloudWatch alarm {shown_state}"},
        },
        section(lines),
    ]
    console = _console_link(str(alarm.get("AlarmArn") or ""), name)
    if console is not None:
        blocks.append(context(f"<{console}|Open in the CloudWatch console>"))
    return {"text": esc(f"CloudWatch alarm {name}: {new_state}", 300), "blocks": blocks}
