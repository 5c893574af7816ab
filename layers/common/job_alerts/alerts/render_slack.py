"""Slack rendering of an alert document (Block Kit, every outside text escaped), and the choice of
rendering for any message on the alert topic. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from job_alerts.alerts.blockkit import (
    SLACK_FALLBACK_MAX_CHARS,
    SLACK_HEADER_MAX_CHARS,
    SLACK_MAX_BLOCKS,
    context,
    esc,
    section,
)
from job_alerts.alerts.document import from_document
from job_alerts.alerts.model import (
    GOOD_NEWS_KINDS,
    Alert,
    AlertEntry,
    AlertKind,
    JobFacts,
    job_link,
)
from job_alerts.alerts.render_cloudwatch import render_cloudwatch_slack
from job_alerts.alerts.wording import (
    ERROR_TEXT_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    SINCE_LABELS,
    URL_TEXT_MAX_CHARS,
    deployment_text,
    entry_summary,
    headline,
    silence_hint,
    stack_tag,
    tag,
    what_to_do,
)
from job_alerts.config import Deployment
from job_alerts.rules import Severity
from job_alerts.text import count, duration, escape_mrkdwn, moment, percent, truncate

__all__ = ["render_slack", "slack_payload_for_sns"]

_SEVERITY_EMOJI: Mapping[Severity, str] = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}
# A context block holds at most 10 elements: nine jobs and the "and N more".
_CONTEXT_JOBS = 9
_ENTRY_JOB_LINKS = 10


def _emoji(alert: Alert) -> str:
    top = alert.top_entry
    if top.kind is AlertKind.TEST:
        return ":test_tube:"
    if top.kind in GOOD_NEWS_KINDS:
        return ":white_check_mark:"
    return _SEVERITY_EMOJI[alert.severity]


def _slack_link(job_id: str) -> str:
    # The URL is ours (job id percent-quoted); the visible text is escaped outside text.
    return f"<{job_link(job_id)}|{esc(job_id, 80)}>"


def _entry_block(entry: AlertEntry, deployment: Deployment | None) -> dict[str, Any]:
    lines = [
        f"*{entry.kind.value} · {entry.severity.value}* — {esc(entry_summary(entry), 300)}",
        esc(entry.message, MESSAGE_MAX_CHARS),
    ]
    if entry.job_ids:
        shown = ", ".join(_slack_link(job_id) for job_id in entry.job_ids[:_ENTRY_JOB_LINKS])
        hidden = len(entry.job_ids) - _ENTRY_JOB_LINKS
        more = f" and {count(hidden)} more" if hidden > 0 else ""
        lines.append(f"Jobs: {shown}{more}")
    if entry.since is not None and entry.kind is not AlertKind.REMINDER:
        lines.append(f"{SINCE_LABELS.get(entry.kind, 'Since')}: {moment(entry.since)}")
    if entry.duration_s is not None and entry.kind in GOOD_NEWS_KINDS:
        lines.append(f"The alarm lasted {duration(entry.duration_s)}.")
    lines.append(f"_What to do:_ {escape_mrkdwn(what_to_do(entry, deployment))}")
    return section(lines)


def _job_block(job: JobFacts) -> dict[str, Any] | None:
    """Why a job failed: top errors and sample inputs; None when Bright Data gave none."""
    if job.errors is None or not (job.errors.kinds or job.errors.samples):
        return None
    lines = [f"*Errors in {_slack_link(job.job_id)}*"]
    lines += [
        f"• {count(times)} x {esc(error, ERROR_TEXT_MAX_CHARS)}"
        for error, times in job.errors.kinds
    ]
    lines += [
        f"• sample: {esc(url, URL_TEXT_MAX_CHARS)} — {esc(error, ERROR_TEXT_MAX_CHARS)}"
        for url, error in job.errors.samples
    ]
    return section(lines)


def _job_facts_line(job: JobFacts) -> str:
    parts = [_slack_link(job.job_id), esc(job.status, 30)]
    if job.success_rate is not None:
        so_far = "" if job.settled else " so far"
        parts.append(f"success{so_far} {percent(job.success_rate)}")
    if job.fails is not None:
        parts.append(f"failed {count(job.fails)}")
    if job.lines is not None:
        parts.append(f"lines {count(job.lines)}")
    if job.finished is not None:
        parts.append(f"ended {moment(job.finished)}")
    return " · ".join(parts)


def _job_context(alert: Alert) -> dict[str, Any]:
    """Job links with their key facts."""
    shown = alert.jobs[:_CONTEXT_JOBS]
    elements = [{"type": "mrkdwn", "text": _job_facts_line(job)} for job in shown]
    hidden = max(len(alert.jobs), alert.affected_jobs) - len(shown)
    if hidden > 0:
        elements.append({"type": "mrkdwn", "text": f"and {count(hidden, 'more job')}"})
    return {"type": "context", "elements": elements}


def _summary(alert: Alert) -> list[str]:
    summary = []
    if alert.test:
        summary.append("*This is a test alert.* Nothing is wrong.")
    if alert.deployment is not None:
        summary.append(f"*Deployment:* {esc(deployment_text(alert.deployment), 400)}")
    if alert.collector_id is None and alert.collector_name is None:
        summary.append("*Collector:* - (about the monitor itself)")
    else:
        name = esc(alert.collector_name or "-", 200)
        summary.append(f"*Collector:* {name} (`{esc(alert.collector_id or 'no id', 80)}`)")
    summary.append(f"*Jobs affected in this run:* {count(alert.affected_jobs)}")
    summary.append(f"*Alerted at:* {moment(alert.created_at)}")
    return summary


def render_slack(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Slack incoming-webhook payload (Block Kit): header, summary, a section per entry,
    error details per job, and a context block with job links. All outside text escaped."""
    alert = from_document(doc)
    # The header is plain text, where escaping does not apply: it holds only our own words and
    # the stack's name, shown only when it is one CloudFormation allows (letters, digits, -).
    header = f"{_emoji(alert)} {tag(alert)}{stack_tag(alert)} Bright Data job alert"
    if len(alert.entries) > 1:
        header += f": {len(alert.entries)} entries"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(header, SLACK_HEADER_MAX_CHARS)},
        },
        section(_summary(alert)),
        {"type": "divider"},
    ]
    detail = [_entry_block(entry, alert.deployment) for entry in alert.ordered_entries]
    detail += [block for block in map(_job_block, alert.jobs) if block is not None]
    footer = []
    if alert.jobs:
        footer.append(_job_context(alert))
    silence = silence_hint(alert)
    hint = f"Silence: `{escape_mrkdwn(silence)}` · " if silence else ""
    footer.append(context(f"{hint}Alert id `{esc(alert.alert_id, 120)}`"))
    room = SLACK_MAX_BLOCKS - len(blocks) - len(footer)
    if len(detail) > room:
        dropped = len(detail) - (room - 1)
        detail = [*detail[: room - 1], section([f"… and {dropped} more (see the email)."])]
    blocks += detail + footer
    return {"text": esc(headline(alert), SLACK_FALLBACK_MAX_CHARS), "blocks": blocks}


def slack_payload_for_sns(message: str, subject: str | None = None) -> dict[str, Any]:
    """Choose the rendering for an SNS message on the alert topic: our alert document, a
    CloudWatch alarm notification, or (anything else) its text, escaped.
    Raises ValueError for an alert document this version cannot read."""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, Mapping) and "schema_version" in parsed:
        return render_slack(parsed)
    if isinstance(parsed, Mapping) and "AlarmName" in parsed and "NewStateValue" in parsed:
        return render_cloudwatch_slack(parsed)
    text = f"*{esc(subject, 200)}*\n" if subject else ""
    return {"text": text + escape_mrkdwn(truncate(message, SLACK_FALLBACK_MAX_CHARS))}
