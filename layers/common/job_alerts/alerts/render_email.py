"""Email rendering of an alert document: the SNS subject (one line, under 100 characters) and a
plain-text body. Pure functions of the document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job_alerts.alerts.document import from_document
from job_alerts.alerts.model import AlertKind, JobFacts, job_link
from job_alerts.alerts.wording import (
    ERROR_TEXT_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    SINCE_LABELS,
    URL_TEXT_MAX_CHARS,
    deployment_text,
    entry_summary,
    footer_commands,
    headline,
    measure,
    what_to_do,
)
from job_alerts.text import count, duration, moment, one_line, percent

__all__ = ["SUBJECT_MAX_CHARS", "render_email", "render_subject"]

# SNS: "less than 100 characters, no line breaks or control characters".
SUBJECT_MAX_CHARS = 99


def render_subject(doc: Mapping[str, Any]) -> str:
    """SNS subject: one line, under 100 characters, ellipsis when cut."""
    return one_line(headline(from_document(doc)), SUBJECT_MAX_CHARS)


def _job_lines(job: JobFacts) -> list[str]:
    title = f"Job {one_line(job.job_id, 80)} ({one_line(job.status, 30)})"
    lines = [title, f"  Control panel: {job_link(job.job_id)}"]
    if job.success_rate is not None:
        detail = ""
        if job.success is not None and job.inputs is not None:
            detail = f" ({count(job.success)} of {count(job.inputs, 'input')} succeeded)"
        # An unsettled job's rate is only what it has done so far.
        label = "Success rate:  " if job.settled else "Success so far: "
        lines.append(f"  {label}{percent(job.success_rate)}{detail}")
    counts = [
        f"{name} {count(value)}"
        for name, value in (("inputs", job.inputs), ("failed", job.fails), ("lines", job.lines))
        if value is not None
    ]
    if counts:
        lines.append(f"  Counts:        {', '.join(counts)}")
    if job.queue_time_s is not None or job.job_time_s is not None:
        queued = duration(job.queue_time_s) if job.queue_time_s is not None else "-"
        ran = duration(job.job_time_s) if job.job_time_s is not None else "-"
        lines.append(f"  Queue / run:   {queued} / {ran}")
    lines.append(f"  Created:       {moment(job.created)}")
    lines.append(f"  Started:       {moment(job.started)}")
    lines.append(f"  Finished:      {moment(job.finished)}")
    if job.errors is not None and job.errors.kinds:
        lines.append("  Top errors:")
        lines.extend(
            f"    {count(times):>5} x {one_line(error, ERROR_TEXT_MAX_CHARS)}"
            for error, times in job.errors.kinds
        )
    if job.errors is not None and job.errors.samples:
        lines.append("  Failing inputs (sample):")
        lines.extend(
            f"    {one_line(url, URL_TEXT_MAX_CHARS)} - {one_line(error, ERROR_TEXT_MAX_CHARS)}"
            for url, error in job.errors.samples
        )
    return lines


def render_email(doc: Mapping[str, Any]) -> str:
    """Plain-text email body."""
    alert = from_document(doc)
    out: list[str] = []
    if alert.test:
        out += ["THIS IS A TEST ALERT. Nothing is wrong; it checks that alerts reach you.", ""]
    out.append(one_line(headline(alert), 400))
    out.append("")
    if alert.deployment is not None:
        out.append(f"Deployment:    {deployment_text(alert.deployment)}")
    if alert.collector_id is not None or alert.collector_name is not None:
        name = one_line(alert.collector_name or "-", 200)
        out.append(f"Collector:     {name} ({one_line(alert.collector_id or 'no id', 80)})")
    else:
        out.append("Collector:     - (about the monitor itself)")
    out.append(f"Severity:      {alert.severity.value}")
    out.append(f"Jobs affected: {count(alert.affected_jobs)} in this run")
    out.append(f"Alerted at:    {moment(alert.created_at)}")
    for entry in alert.ordered_entries:
        out += ["", f"== {entry.kind.value} ({entry.severity.value}): {entry_summary(entry)}"]
        out.append(one_line(entry.message, MESSAGE_MAX_CHARS))
        measured = measure(entry)
        if measured is not None:
            out.append(f"Observed vs limit: {measured}")
        if entry.job_ids:
            out.append(f"Jobs: {one_line(', '.join(entry.job_ids), 400)}")
        if entry.since is not None:
            out.append(f"{SINCE_LABELS.get(entry.kind, 'Since')}: {moment(entry.since)}")
        if entry.duration_s is not None:
            lasted = "In alarm for" if entry.kind is AlertKind.REMINDER else "The alarm lasted"
            out.append(f"{lasted} {duration(entry.duration_s)}.")
        out.append(f"What to do: {what_to_do(entry, alert.deployment)}")
    if alert.jobs:
        out += ["", "Jobs", "----"]
        for job in alert.jobs:
            out += _job_lines(job)
        if len(alert.jobs) < alert.affected_jobs:
            hidden = count(alert.affected_jobs - len(alert.jobs), "more job")
            out.append(f"(and {hidden} not listed)")
    out += ["", "--", "Sent by job-alerts (Bright Data job alerts)."]
    out += [f"{label}: {command}" for label, command in footer_commands(alert)]
    out.append(f"Alert id: {alert.alert_id}")
    return "\n".join(out) + "\n"
