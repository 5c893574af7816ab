"""The words every channel shares (values read as `job_alerts.text` writes them): the headline and
the short summary of an entry, what to do about it, which deployment sent it and the commands that
act on that deployment. What a rule measures, its unit, direction and advice come from the rule
catalogue."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from job_alerts.alerts.model import GOOD_NEWS_KINDS, Alert, AlertEntry, AlertKind
from job_alerts.config import STACK_NAME_PATTERN, Deployment
from job_alerts.rules import Rule, Unit, spec_named
from job_alerts.text import duration, moment, number, one_line, percent, truncate

__all__ = [
    "ERROR_TEXT_MAX_CHARS",
    "MESSAGE_MAX_CHARS",
    "SINCE_LABELS",
    "URL_TEXT_MAX_CHARS",
    "deployment_text",
    "entry_summary",
    "footer_commands",
    "headline",
    "measure",
    "silence_hint",
    "stack_tag",
    "tag",
    "what_to_do",
]

# Advice for what the monitor tells that is no catalogue rule (the opt-in rerun's follow-ups).
_RULE_ADVICE: Mapping[str, str] = {
    "rerun": (
        "Nothing to do now: the rerun is read like any job and what it recovered is reported "
        "when it settles. Each rerun spends Bright Data credits; take the collector out of "
        "RerunCollectors (or set rerun_failed_inputs to false) to stop them."
    ),
}

# A command shown in backticks in advice text: pasted, it must act on the alert's deployment.
_INLINE_COMMAND = re.compile(r"`(job-alerts [^`]*)`")
# Room a stack name takes in a subject (which SNS cuts at 99 characters) and a Slack header.
_STACK_TAG_MAX_CHARS = 32

# Bright Data error strings can be whole stack traces; an alert needs the gist.
ERROR_TEXT_MAX_CHARS = 160
URL_TEXT_MAX_CHARS = 200
MESSAGE_MAX_CHARS = 600

_WHAT_TO_DO: Mapping[AlertKind, str] = {
    AlertKind.ALARM: (
        "Open the job in the Bright Data control panel to see what failed; rerun the failed "
        'inputs with `POST /dca/jobs/{job_id}/rerun` (body {{"failed_only": 1}}); if the '
        "limit is too strict for this collector, try another one with the what-if command "
        "below before setting it."
    ),
    AlertKind.JOB: (
        "Open the job in the Bright Data control panel to see why it stopped; rerun it with "
        "`POST /dca/jobs/{job_id}/rerun` once the cause is fixed."
    ),
    AlertKind.REMINDER: (
        "The alarm is still open: check the latest job in the control panel, rerun failed "
        "inputs with `POST /dca/jobs/{job_id}/rerun`, or try another limit with the what-if "
        "command below."
    ),
    AlertKind.RESOLVED: "Nothing to do: the collector is back within its limits.",
    AlertKind.DEGRADED: (
        "The monitor cannot judge jobs until this is fixed: check the Bright Data API token "
        "(the SSM parameter BrightDataTokenParameterName names) and the API's reachability; "
        "`job-alerts status` shows the monitor's health. Jobs are kept and judged once it "
        "works again."
    ),
    AlertKind.RECOVERED: "Nothing to do: the monitor is judging jobs again and catches up.",
    AlertKind.TEST: (
        "Nothing to do: this is a test of the alert delivery (`job-alerts test-alert`)."
    ),
}

SINCE_LABELS: Mapping[AlertKind, str] = {
    AlertKind.REMINDER: "Still failing since",
    AlertKind.RESOLVED: "Alarm started",
    AlertKind.RECOVERED: "Degraded since",
}


def _show(unit: Unit, value: float | int | str, beside: float | int | str | None = None) -> str:
    """A measured value in its unit; beside its limit, never reading the same as that limit."""
    if isinstance(value, str):
        return value
    limit = None if isinstance(beside, str) else beside
    if unit is Unit.RATE:
        return percent(value, beside=limit)
    if unit is Unit.MINUTES:
        return duration(value * 60, beside=None if limit is None else limit * 60)
    return number(value)


def measure(entry: AlertEntry) -> str | None:
    """ "success rate 42% < 90%" for threshold rules with known values; None otherwise."""
    spec = spec_named(entry.rule)
    if spec is None or spec.threshold is None or entry.observed is None or entry.limit is None:
        return None
    unit = spec.measured_in or spec.threshold.unit
    operator = spec.threshold.direction.breach_operator
    observed = _show(unit, entry.observed, beside=entry.limit)
    return f"{spec.subject} {observed} {operator} {_show(unit, entry.limit)}"


def _subject(rule: str) -> str:
    spec = spec_named(rule)
    return spec.subject if spec is not None else rule.replace("_", " ")


def entry_summary(entry: AlertEntry) -> str:
    """A short phrase for subjects and headings."""
    measured = measure(entry)
    subject = _subject(entry.rule)
    if entry.kind is AlertKind.RESOLVED:
        lasted = f" after {duration(entry.duration_s)}" if entry.duration_s is not None else ""
        return f"{subject} back within limits{lasted}"
    if entry.kind is AlertKind.REMINDER:
        since = f" since {moment(entry.since)}" if entry.since is not None else ""
        return f"{measured or subject} still in alarm{since}"
    if entry.rule == Rule.JOB_FAILED:
        return f"job {entry.job_ids[0]} failed" if entry.job_ids else "job failed"
    if entry.rule == Rule.JOB_CANCELLED:
        return f"job {entry.job_ids[0]} cancelled" if entry.job_ids else "job cancelled"
    return measured or one_line(entry.message, 80)


def deployment_text(deployment: Deployment) -> str:
    """ "stack staging, region eu-west-1, account 123456789012": what is known of it."""
    parts = [
        f"{label} {one_line(value, 128)}"
        for label, value in (
            ("stack", deployment.stack),
            ("region", deployment.region),
            ("account", deployment.account),
        )
        if value
    ]
    return ", ".join(parts)


def stack_tag(alert: Alert) -> str:
    """ " [staging]" after the severity tag, so two stacks' alerts differ at a glance; "" from a
    local run, or for a name no stack has (it goes into plain-text headers unescaped)."""
    stack = alert.deployment.stack if alert.deployment is not None else None
    if stack is None or not STACK_NAME_PATTERN.fullmatch(stack):
        return ""
    return f" [{truncate(stack, _STACK_TAG_MAX_CHARS)}]"


def _on_deployment(command: str, deployment: Deployment | None) -> str:
    """The command pointed at the deployment: --stack, and --region always when it is known
    (the CLI would otherwise use --region's default, AWS_REGION or the profile's, which can be
    another region holding a stack of the same name)."""
    if deployment is None:
        return command
    if deployment.stack:
        command += f" --stack {shlex.quote(deployment.stack)}"
    if deployment.region:
        command += f" --region {shlex.quote(deployment.region)}"
    return command


def tag(alert: Alert) -> str:
    """ "[CRITICAL]", "[RESOLVED]", "[TEST] [WARNING]": how subjects and headers start."""
    top = alert.top_entry
    word = top.kind.value if top.kind in GOOD_NEWS_KINDS else alert.severity.value.upper()
    if alert.test:
        return "[TEST]" if top.kind is AlertKind.TEST else f"[TEST] [{word}]"
    return f"[{word}]"


def headline(alert: Alert) -> str:
    """Subject-style headline (any length)."""
    entries = alert.ordered_entries
    if len(entries) == 1:
        what = entry_summary(entries[0])
    else:
        what = f"{len(entries)} alerts (" + ", ".join(entry_summary(e) for e in entries) + ")"
    return f"{tag(alert)}{stack_tag(alert)} {one_line(alert.collector_label, 60)}: {what}"


def what_to_do(entry: AlertEntry, deployment: Deployment | None = None) -> str:
    """The advice for an entry: good news needs none; else the rule's own when it has one, else
    its kind's. A command it quotes is pointed at the deployment that sent the alert."""
    return _INLINE_COMMAND.sub(
        lambda found: f"`{_on_deployment(found[1], deployment)}`", _advice(entry)
    )


def _advice(entry: AlertEntry) -> str:
    if entry.kind in GOOD_NEWS_KINDS:
        return _WHAT_TO_DO[entry.kind]
    if entry.rule in _RULE_ADVICE:
        return _RULE_ADVICE[entry.rule]
    spec = spec_named(entry.rule)
    if spec is not None and spec.advice is not None:
        return spec.advice
    job_id = one_line(entry.job_ids[0], 80) if len(entry.job_ids) == 1 else "<job_id>"
    return _WHAT_TO_DO[entry.kind].format(job_id=job_id)


def silence_hint(alert: Alert) -> str | None:
    """A command that silences the alert's collector, in the deployment that sent the alert, as
    pasted (a reason is required)."""
    if alert.collector_id is None or alert.test:
        return None
    return _on_deployment(_silence_command(alert.collector_id), alert.deployment)


def _silence_command(collector_id: str) -> str:
    return f'job-alerts silence {collector_id} --for 2h --reason "investigating"'


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def footer_commands(alert: Alert) -> list[tuple[str, str]]:
    """(label, command) lines that fit the alert, each runnable as pasted and acting on the
    deployment that sent it: a collector's alert offers its silence, its limits and a dry run of
    a new limit; a monitor-health alert the monitor's status; a test alert how to send another."""
    return [
        (label, _on_deployment(command, alert.deployment))
        for label, command in _footer_lines(alert)
    ]


def _footer_lines(alert: Alert) -> list[tuple[str, str]]:
    if alert.test:
        return [("Send another test", "job-alerts test-alert")]
    if alert.collector_id is None:
        return [("What is red now", "job-alerts status")]
    collector = alert.collector_id
    lines = [
        ("Silence this collector", _silence_command(collector)),
        ("Limits of this collector", f"job-alerts thresholds --collector {collector}"),
    ]
    top = alert.top_entry
    spec = spec_named(top.rule)
    is_open = top.kind in (AlertKind.ALARM, AlertKind.REMINDER)
    # A what-if only where the alert's limit is the threshold itself (not, say, a share of a
    # learned median, which the threshold key does not take).
    threshold = spec.threshold if spec is not None and spec.measured_in is None else None
    if is_open and threshold is not None and _is_number(top.limit):
        lines.append(
            (
                "Try another limit first",
                f"job-alerts thresholds set --collector {collector} "
                f"{threshold.key}={top.limit:g} --what-if",
            )
        )
    return lines
