"""The Alert model, its canonical JSON document and its pure renderings: email subject and body,
Slack Block Kit (with mrkdwn escaping), and Slack messages for CloudWatch alarm notifications.

Document schema, version 1 (``to_document`` writes it, ``from_document`` validates and reads it;
every time is ISO-8601 UTC with a ``Z`` suffix, every duration is in seconds):

====================  ===========================================================================
field                 meaning
====================  ===========================================================================
schema_version        ``1``; readers refuse versions they do not know
alert_id              stable dedup key chosen by the monitor
test                  ``true`` for test alerts (``job-alerts test-alert``): nothing is wrong
created_at            when the monitor decided to alert
severity              ``critical`` | ``warning`` | ``info``: the highest of the entries
kind                  kind of the highest-severity entry (see ``entries[].kind``)
collector             ``{"id", "name"}``; both ``null`` for monitor-health alerts
entries[]             one per rule transition or event, highest severity first:
  .kind               ``ALARM`` | ``RESOLVED`` | ``REMINDER`` | ``JOB`` | ``DEGRADED`` |
                      ``RECOVERED`` | ``TEST``
  .rule               rule name (``success_rate_below_min``, ``job_failed``, ...) or a
                      monitor-health condition (``api_token_rejected``, ...)
  .severity           severity of this entry
  .message            one sentence saying what happened
  .observed, .limit   the measured value and the threshold (rates are fractions 0..1,
                      stuck times are minutes); ``null`` when not applicable
  .job_ids            the jobs this entry is about
  .since              when the alarm started (ALARM, REMINDER, RESOLVED, DEGRADED); or ``null``
  .duration_s         how long the alarm lasted (RESOLVED, RECOVERED); or ``null``
jobs[]                facts about the jobs behind the entries (may list fewer than
                      ``affected_jobs`` when a message would not fit in SNS's 256 KB):
  .job_id, .collector_id, .status, .settled, .link (control panel URL)
  .inputs, .success, .fails, .lines, .success_rate, .job_time_s, .queue_time_s
  .created, .started, .finished
  .errors             ``null`` or ``{"kinds": [{"error", "count"}], "samples": [{"url", "error"}]}``
affected_jobs         how many jobs this run found affected
====================  ===========================================================================
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from job_alerts.joblog import JobLog
from job_alerts.rules import Rule, Severity

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AlertEntry",
    "AlertKind",
    "ErrorSummary",
    "JobFacts",
    "escape_mrkdwn",
    "format_duration",
    "from_document",
    "job_link",
    "render_cloudwatch_slack",
    "render_email",
    "render_slack",
    "render_subject",
    "slack_payload_for_sns",
    "to_document",
]

SCHEMA_VERSION = 1
CONTROL_PANEL_JOB_URL = "https://brightdata.com/cp/scrapers/jobs/{job_id}"

# SNS: "less than 100 characters, no line breaks or control characters".
SUBJECT_MAX_CHARS = 99
# Slack Block Kit limits (message blocks, section text, header text, context elements).
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_MAX_CHARS = 3000
SLACK_HEADER_MAX_CHARS = 150
SLACK_FALLBACK_MAX_CHARS = 3000
# Bright Data error strings can be whole stack traces; an alert needs the gist.
_ERROR_TEXT_MAX_CHARS = 160
_URL_TEXT_MAX_CHARS = 200
_MESSAGE_MAX_CHARS = 600


class AlertKind(StrEnum):
    ALARM = "ALARM"
    RESOLVED = "RESOLVED"
    REMINDER = "REMINDER"
    JOB = "JOB"
    DEGRADED = "DEGRADED"
    RECOVERED = "RECOVERED"
    TEST = "TEST"


# Kinds that announce that something got better: their subject says so instead of a severity.
_GOOD_NEWS_KINDS = frozenset({AlertKind.RESOLVED, AlertKind.RECOVERED})


@dataclass(frozen=True)
class ErrorSummary:
    """Why a job failed: the most frequent error kinds and a few failing inputs."""

    kinds: tuple[tuple[str, int], ...] = ()  # (error kind, count), most frequent first, top 5
    samples: tuple[tuple[str, str], ...] = ()  # (url, error), up to 3


@dataclass(frozen=True)
class JobFacts:
    """What an alert tells about one job; a JSON-friendly subset of JobLog plus its errors."""

    job_id: str
    collector_id: str | None
    status: str
    settled: bool
    inputs: int | None = None
    success: int | None = None
    fails: int | None = None
    lines: int | None = None
    success_rate: float | None = None
    job_time_s: float | None = None
    queue_time_s: float | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    errors: ErrorSummary | None = None

    @staticmethod
    def from_joblog(job: JobLog, errors: ErrorSummary | None = None) -> JobFacts:
        return JobFacts(
            job_id=job.job_id,
            collector_id=job.collector_id,
            status=job.status.value,
            settled=job.settled,
            inputs=job.inputs,
            success=job.success,
            fails=job.fails,
            lines=job.lines,
            success_rate=job.success_rate,
            job_time_s=job.job_time.total_seconds() if job.job_time is not None else None,
            queue_time_s=job.queue_time.total_seconds() if job.queue_time is not None else None,
            created=job.created,
            started=job.started,
            finished=job.finished,
            errors=errors,
        )


@dataclass(frozen=True)
class AlertEntry:
    """One rule transition or event inside a (possibly grouped) alert."""

    kind: AlertKind
    rule: str
    severity: Severity
    message: str
    observed: float | int | str | None = None
    limit: float | int | str | None = None
    job_ids: tuple[str, ...] = ()
    since: datetime | None = None  # when the alarm started
    duration_s: float | None = None  # how long the alarm lasted (RESOLVED / RECOVERED)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    collector_id: str | None
    collector_name: str | None
    entries: tuple[AlertEntry, ...]
    jobs: tuple[JobFacts, ...]
    affected_jobs: int
    created_at: datetime
    test: bool = False

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError("an alert needs at least one entry")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")

    @property
    def severity(self) -> Severity:
        return self.ordered_entries[0].severity

    @property
    def ordered_entries(self) -> tuple[AlertEntry, ...]:
        """Highest severity first; the monitor's order otherwise (sorted() is stable)."""
        return tuple(sorted(self.entries, key=lambda entry: -entry.severity.rank))

    @property
    def top_entry(self) -> AlertEntry:
        return self.ordered_entries[0]

    @property
    def collector_label(self) -> str:
        return self.collector_name or self.collector_id or "monitor"


# ---------------------------------------------------------------------------------------------
# Document


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected an ISO-8601 time, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: not an ISO-8601 time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _value(value: Any) -> float | int | str | None:
    # Non-finite floats are not JSON; they can only come from bad upstream data.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _job_document(job: JobFacts) -> dict[str, Any]:
    errors = None
    if job.errors is not None:
        errors = {
            "kinds": [{"error": error, "count": count} for error, count in job.errors.kinds],
            "samples": [{"url": url, "error": error} for url, error in job.errors.samples],
        }
    return {
        "job_id": job.job_id,
        "collector_id": job.collector_id,
        "status": job.status,
        "settled": job.settled,
        "link": job_link(job.job_id),
        "inputs": job.inputs,
        "success": job.success,
        "fails": job.fails,
        "lines": job.lines,
        "success_rate": _value(job.success_rate),
        "job_time_s": _value(job.job_time_s),
        "queue_time_s": _value(job.queue_time_s),
        "created": _iso(job.created),
        "started": _iso(job.started),
        "finished": _iso(job.finished),
        "errors": errors,
    }


def to_document(alert: Alert) -> dict[str, Any]:
    """The canonical, JSON-safe form of an alert: what is stored, published and re-rendered."""
    top = alert.top_entry
    return {
        "schema_version": SCHEMA_VERSION,
        "alert_id": alert.alert_id,
        "test": alert.test,
        "created_at": _iso(alert.created_at),
        "severity": alert.severity.value,
        "kind": top.kind.value,
        "collector": {"id": alert.collector_id, "name": alert.collector_name},
        "entries": [
            {
                "kind": entry.kind.value,
                "rule": entry.rule,
                "severity": entry.severity.value,
                "message": entry.message,
                "observed": _value(entry.observed),
                "limit": _value(entry.limit),
                "job_ids": list(entry.job_ids),
                "since": _iso(entry.since),
                "duration_s": _value(entry.duration_s),
            }
            for entry in alert.ordered_entries
        ],
        "jobs": [_job_document(job) for job in alert.jobs],
        "affected_jobs": alert.affected_jobs,
    }


def _require(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise ValueError(f"{where}: missing {key!r}")
    value = doc[key]
    # bool is an int to isinstance(), but True is no count.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise ValueError(f"{where}.{key}: unexpected type {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _optional(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if doc.get(key) is None:
        return None
    return _require(doc, key, kind, where)


_NUMBER = (int, float)
_SCALAR = (int, float, str)


def _entry_from(doc: Any, where: str) -> AlertEntry:
    doc = _mapping(doc, where)
    job_ids = _require(doc, "job_ids", list, where) if "job_ids" in doc else []
    return AlertEntry(
        kind=AlertKind(_require(doc, "kind", str, where)),
        rule=_require(doc, "rule", str, where),
        severity=Severity(_require(doc, "severity", str, where)),
        message=_require(doc, "message", str, where),
        observed=_optional(doc, "observed", _SCALAR, where),
        limit=_optional(doc, "limit", _SCALAR, where),
        job_ids=tuple(str(job_id) for job_id in job_ids),
        since=_parse_time(doc.get("since"), f"{where}.since"),
        duration_s=_optional(doc, "duration_s", _NUMBER, where),
    )


def _mapping(doc: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ValueError(f"{where}: expected an object")
    return doc


def _errors_from(doc: Any, where: str) -> ErrorSummary | None:
    if doc is None:
        return None
    doc = _mapping(doc, where)
    kinds = tuple(
        (_require(k, "error", str, where), _require(k, "count", int, where))
        for k in (_mapping(k, f"{where}.kinds") for k in doc.get("kinds") or ())
    )
    samples = tuple(
        (_require(s, "url", str, where), _require(s, "error", str, where))
        for s in (_mapping(s, f"{where}.samples") for s in doc.get("samples") or ())
    )
    return ErrorSummary(kinds=kinds, samples=samples)


def _job_from(doc: Any, where: str) -> JobFacts:
    doc = _mapping(doc, where)
    return JobFacts(
        job_id=_require(doc, "job_id", str, where),
        collector_id=_optional(doc, "collector_id", str, where),
        status=_require(doc, "status", str, where),
        settled=_require(doc, "settled", bool, where),
        inputs=_optional(doc, "inputs", int, where),
        success=_optional(doc, "success", int, where),
        fails=_optional(doc, "fails", int, where),
        lines=_optional(doc, "lines", int, where),
        success_rate=_optional(doc, "success_rate", _NUMBER, where),
        job_time_s=_optional(doc, "job_time_s", _NUMBER, where),
        queue_time_s=_optional(doc, "queue_time_s", _NUMBER, where),
        created=_parse_time(doc.get("created"), f"{where}.created"),
        started=_parse_time(doc.get("started"), f"{where}.started"),
        finished=_parse_time(doc.get("finished"), f"{where}.finished"),
        errors=_errors_from(doc.get("errors"), f"{where}.errors"),
    )


def from_document(doc: Mapping[str, Any]) -> Alert:
    """Read a document written by to_document; ValueError when it is not one we understand."""
    doc = _mapping(doc, "alert document")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"alert document: unsupported schema_version {version!r}")
    where = "alert document"
    collector = _mapping(_require(doc, "collector", dict, where), f"{where}.collector")
    created_at = _parse_time(_require(doc, "created_at", str, where), f"{where}.created_at")
    assert created_at is not None  # a str was required just above
    return Alert(
        alert_id=_require(doc, "alert_id", str, where),
        collector_id=_optional(collector, "id", str, f"{where}.collector"),
        collector_name=_optional(collector, "name", str, f"{where}.collector"),
        entries=tuple(
            _entry_from(entry, f"{where}.entries[{i}]")
            for i, entry in enumerate(_require(doc, "entries", list, where))
        ),
        jobs=tuple(
            _job_from(job, f"{where}.jobs[{i}]")
            for i, job in enumerate(_require(doc, "jobs", list, where))
        ),
        affected_jobs=_require(doc, "affected_jobs", int, where),
        created_at=created_at,
        test=_require(doc, "test", bool, where),
    )


# ---------------------------------------------------------------------------------------------
# Shared wording


def job_link(job_id: str) -> str:
    """The job's page in the Bright Data control panel."""
    return CONTROL_PANEL_JOB_URL.format(job_id=quote(job_id, safe=""))


def format_duration(seconds: float) -> str:
    """Human duration: "45 s", "12 min", "2 h 15 min", "3 d 4 h"."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _percent(rate: float) -> str:
    return f"{round(rate * 100, 1):g}%"


def _number(value: float | int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{round(value, 1):g}"


_PERCENT_RULES = frozenset({Rule.SUCCESS_RATE_BELOW_MIN, Rule.FAIL_RATIO_ABOVE_MAX})
_MINUTE_RULES = frozenset({Rule.STUCK_QUEUED, Rule.STUCK_RUNNING})
_MINIMUM_RULES = frozenset({Rule.SUCCESS_RATE_BELOW_MIN, Rule.OUTPUT_BELOW_MIN})
# What each rule measures, as it reads in "<label> 42% < 90%".
_RULE_LABELS: Mapping[str, str] = {
    Rule.SUCCESS_RATE_BELOW_MIN: "success rate",
    Rule.FAIL_RATIO_ABOVE_MAX: "fail ratio",
    Rule.FAILS_ABOVE_MAX: "failed inputs",
    Rule.OUTPUT_BELOW_MIN: "output lines",
    Rule.STUCK_QUEUED: "queued",
    Rule.STUCK_RUNNING: "running",
}


def _show(rule: str, value: float | int | str | None) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, str):
        return value
    if rule in _PERCENT_RULES:
        return _percent(value)
    if rule in _MINUTE_RULES:
        return f"{_number(value)} min"
    return _number(value)


def _measure(entry: AlertEntry) -> str | None:
    """ "success rate 42% < 90%" for threshold rules with known values; None otherwise."""
    label = _RULE_LABELS.get(entry.rule)
    if label is None or entry.observed is None or entry.limit is None:
        return None
    operator = "<" if entry.rule in _MINIMUM_RULES else ">"
    return (
        f"{label} {_show(entry.rule, entry.observed)} {operator} {_show(entry.rule, entry.limit)}"
    )


def _entry_summary(entry: AlertEntry) -> str:
    """A short phrase for subjects and headings."""
    measure = _measure(entry)
    label = _RULE_LABELS.get(entry.rule, entry.rule.replace("_", " "))
    if entry.kind is AlertKind.RESOLVED:
        lasted = (
            f" after {format_duration(entry.duration_s)}" if entry.duration_s is not None else ""
        )
        return f"{label} back within limits{lasted}"
    if entry.kind is AlertKind.REMINDER:
        since = f" since {_time(entry.since)}" if entry.since is not None else ""
        return f"{measure or label} still in alarm{since}"
    if entry.rule == Rule.JOB_FAILED:
        return f"job {entry.job_ids[0]} failed" if entry.job_ids else "job failed"
    if entry.rule == Rule.JOB_CANCELLED:
        return f"job {entry.job_ids[0]} cancelled" if entry.job_ids else "job cancelled"
    return measure or _one_line(entry.message, 80)


def _one_line(text: str, limit: int) -> str:
    """Control characters and line breaks become spaces; runs of spaces collapse; cut at limit."""
    cleaned = "".join(
        " " if unicodedata.category(char)[0] in "CZ" else char for char in text
    ).split()
    return _truncate(" ".join(cleaned), limit)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _tag(alert: Alert) -> str:
    top = alert.top_entry
    word = top.kind.value if top.kind in _GOOD_NEWS_KINDS else alert.severity.value.upper()
    if alert.test:
        return "[TEST]" if top.kind is AlertKind.TEST else f"[TEST] [{word}]"
    return f"[{word}]"


def _headline(alert: Alert) -> str:
    """Subject-style headline (any length)."""
    entries = alert.ordered_entries
    if len(entries) == 1:
        what = _entry_summary(entries[0])
    else:
        what = f"{len(entries)} alerts (" + ", ".join(_entry_summary(e) for e in entries) + ")"
    return f"{_tag(alert)} {_one_line(alert.collector_label, 60)}: {what}"


_WHAT_TO_DO: Mapping[AlertKind, str] = {
    AlertKind.ALARM: (
        "Open the job in the Bright Data control panel to see what failed; rerun the failed "
        'inputs with `POST /dca/jobs/{job_id}/rerun` (body {{"failed_only": 1}}); if the '
        "limit is too strict for this collector, change it with `job-alerts thresholds`."
    ),
    AlertKind.JOB: (
        "Open the job in the Bright Data control panel to see why it stopped; rerun it with "
        "`POST /dca/jobs/{job_id}/rerun` once the cause is fixed."
    ),
    AlertKind.REMINDER: (
        "The alarm is still open: check the latest job in the control panel, rerun failed "
        "inputs with `POST /dca/jobs/{job_id}/rerun`, or adjust the limit with "
        "`job-alerts thresholds`."
    ),
    AlertKind.RESOLVED: "Nothing to do: the collector is back within its limits.",
    AlertKind.DEGRADED: (
        "The monitor cannot judge jobs until this is fixed: check the Bright Data API token "
        "and the API's reachability, then run `job-alerts check`. Jobs are kept and judged "
        "once it works again."
    ),
    AlertKind.RECOVERED: "Nothing to do: the monitor is judging jobs again and catches up.",
    AlertKind.TEST: (
        "Nothing to do: this is a test of the alert delivery (`job-alerts test-alert`)."
    ),
}


# A hung job has not stopped: rerunning it would start a duplicate, so the advice differs.
_WHAT_TO_DO_STUCK = (
    "The job is still {state}: check its progress in the Bright Data control panel and cancel "
    "it there if it is hung (a rerun now would start a duplicate); if this collector is "
    "normally this slow, raise `{limit}` for it with a per-collector override."
)


def _what_to_do(entry: AlertEntry) -> str:
    if entry.rule == Rule.STUCK_QUEUED.value:
        return _WHAT_TO_DO_STUCK.format(state="queued", limit="max_queue_minutes")
    if entry.rule == Rule.STUCK_RUNNING.value:
        return _WHAT_TO_DO_STUCK.format(state="running", limit="max_run_minutes")
    job_id = _one_line(entry.job_ids[0], 80) if len(entry.job_ids) == 1 else "<job_id>"
    return _WHAT_TO_DO[entry.kind].format(job_id=job_id)


def _silence_hint(alert: Alert) -> str | None:
    if alert.collector_id is None:
        return None
    return f"job-alerts silence {alert.collector_id} --for 2h"


# ---------------------------------------------------------------------------------------------
# Email


def render_subject(doc: Mapping[str, Any]) -> str:
    """SNS subject: one line, under 100 characters, ellipsis when cut."""
    return _one_line(_headline(from_document(doc)), SUBJECT_MAX_CHARS)


def _job_lines(job: JobFacts) -> list[str]:
    title = f"Job {_one_line(job.job_id, 80)} ({_one_line(job.status, 30)})"
    lines = [title, f"  Control panel: {job_link(job.job_id)}"]
    if job.success_rate is not None:
        detail = ""
        if job.success is not None and job.inputs is not None:
            detail = f" ({job.success:,} of {job.inputs:,} inputs succeeded)"
        # An unsettled job's rate is only what it has done so far.
        label = "Success rate:  " if job.settled else "Success so far: "
        lines.append(f"  {label}{_percent(job.success_rate)}{detail}")
    counts = [
        f"{name} {value:,}"
        for name, value in (("inputs", job.inputs), ("failed", job.fails), ("lines", job.lines))
        if value is not None
    ]
    if counts:
        lines.append(f"  Counts:        {', '.join(counts)}")
    if job.queue_time_s is not None or job.job_time_s is not None:
        queued = format_duration(job.queue_time_s) if job.queue_time_s is not None else "-"
        ran = format_duration(job.job_time_s) if job.job_time_s is not None else "-"
        lines.append(f"  Queue / run:   {queued} / {ran}")
    lines.append(f"  Created:       {_time(job.created)}")
    lines.append(f"  Started:       {_time(job.started)}")
    lines.append(f"  Finished:      {_time(job.finished)}")
    if job.errors is not None and job.errors.kinds:
        lines.append("  Top errors:")
        lines.extend(
            f"    {count:>5,} x {_one_line(error, _ERROR_TEXT_MAX_CHARS)}"
            for error, count in job.errors.kinds
        )
    if job.errors is not None and job.errors.samples:
        lines.append("  Failing inputs (sample):")
        lines.extend(
            f"    {_one_line(url, _URL_TEXT_MAX_CHARS)} - {_one_line(error, _ERROR_TEXT_MAX_CHARS)}"
            for url, error in job.errors.samples
        )
    return lines


_SINCE_LABELS: Mapping[AlertKind, str] = {
    AlertKind.REMINDER: "Still failing since",
    AlertKind.RESOLVED: "Alarm started",
    AlertKind.RECOVERED: "Degraded since",
}


def render_email(doc: Mapping[str, Any]) -> str:
    """Plain-text email body."""
    alert = from_document(doc)
    out: list[str] = []
    if alert.test:
        out += ["THIS IS A TEST ALERT. Nothing is wrong; it checks that alerts reach you.", ""]
    out.append(_one_line(_headline(alert), 400))
    out.append("")
    if alert.collector_id is not None or alert.collector_name is not None:
        name = _one_line(alert.collector_name or "-", 200)
        out.append(f"Collector:     {name} ({_one_line(alert.collector_id or 'no id', 80)})")
    else:
        out.append("Collector:     - (about the monitor itself)")
    out.append(f"Severity:      {alert.severity.value}")
    out.append(f"Jobs affected: {alert.affected_jobs} in this run")
    out.append(f"Alerted at:    {_time(alert.created_at)}")
    for entry in alert.ordered_entries:
        out += ["", f"== {entry.kind.value} ({entry.severity.value}): {_entry_summary(entry)}"]
        out.append(_one_line(entry.message, _MESSAGE_MAX_CHARS))
        measure = _measure(entry)
        if measure is not None:
            out.append(f"Observed vs limit: {measure}")
        if entry.job_ids:
            out.append(f"Jobs: {_one_line(', '.join(entry.job_ids), 400)}")
        if entry.since is not None:
            out.append(f"{_SINCE_LABELS.get(entry.kind, 'Since')}: {_time(entry.since)}")
        if entry.duration_s is not None:
            lasted = "In alarm for" if entry.kind is AlertKind.REMINDER else "The alarm lasted"
            out.append(f"{lasted} {format_duration(entry.duration_s)}.")
        out.append(f"What to do: {_what_to_do(entry)}")
    if alert.jobs:
        out += ["", "Jobs", "----"]
        for job in alert.jobs:
            out += _job_lines(job)
        if len(alert.jobs) < alert.affected_jobs:
            out.append(f"(and {alert.affected_jobs - len(alert.jobs)} more jobs not listed)")
    out += ["", "--", "Sent by job-alerts (Bright Data job alerts)."]
    silence = _silence_hint(alert)
    if silence is not None:
        out.append(f"Silence this collector: {silence}")
    out.append("Adjust limits: job-alerts thresholds")
    out.append(f"Alert id: {alert.alert_id}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Slack


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control syntax (links, mentions) so text
    from Bright Data or users shows literally and can never ping a channel or hide a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _esc(text: str, limit: int) -> str:
    """One line of outside text, cut before escaping so an entity is never split."""
    return escape_mrkdwn(_one_line(text, limit))


_SEVERITY_EMOJI: Mapping[Severity, str] = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}


def _emoji(alert: Alert) -> str:
    top = alert.top_entry
    if top.kind is AlertKind.TEST:
        return ":test_tube:"
    if top.kind in _GOOD_NEWS_KINDS:
        return ":white_check_mark:"
    return _SEVERITY_EMOJI[alert.severity]


def _slack_link(job_id: str) -> str:
    # The URL is ours (job id percent-quoted); the visible text is escaped outside text.
    return f"<{job_link(job_id)}|{_esc(job_id, 80)}>"


def _section(lines: Sequence[str]) -> dict[str, Any]:
    """A mrkdwn section; whole lines are dropped (never cut mid-link) to stay within limits."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > SLACK_SECTION_MAX_CHARS - 2:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(kept)}}


def _context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _truncate(text, SLACK_SECTION_MAX_CHARS)}],
    }


def _entry_block(entry: AlertEntry) -> dict[str, Any]:
    lines = [
        f"*{entry.kind.value} · {entry.severity.value}* — {_esc(_entry_summary(entry), 300)}",
        _esc(entry.message, _MESSAGE_MAX_CHARS),
    ]
    if entry.job_ids:
        shown = ", ".join(_slack_link(job_id) for job_id in entry.job_ids[:10])
        more = f" and {len(entry.job_ids) - 10} more" if len(entry.job_ids) > 10 else ""
        lines.append(f"Jobs: {shown}{more}")
    if entry.since is not None and entry.kind is not AlertKind.REMINDER:
        lines.append(f"{_SINCE_LABELS.get(entry.kind, 'Since')}: {_time(entry.since)}")
    if entry.duration_s is not None and entry.kind in _GOOD_NEWS_KINDS:
        lines.append(f"The alarm lasted {format_duration(entry.duration_s)}.")
    lines.append(f"_What to do:_ {escape_mrkdwn(_what_to_do(entry))}")
    return _section(lines)


def _job_block(job: JobFacts) -> dict[str, Any] | None:
    """Why a job failed: top errors and sample inputs; None when Bright Data gave none."""
    if job.errors is None or not (job.errors.kinds or job.errors.samples):
        return None
    lines = [f"*Errors in {_slack_link(job.job_id)}*"]
    lines += [
        f"• {count:,} x {_esc(error, _ERROR_TEXT_MAX_CHARS)}" for error, count in job.errors.kinds
    ]
    lines += [
        f"• sample: {_esc(url, _URL_TEXT_MAX_CHARS)} — {_esc(error, _ERROR_TEXT_MAX_CHARS)}"
        for url, error in job.errors.samples
    ]
    return _section(lines)


def _job_facts_line(job: JobFacts) -> str:
    parts = [_slack_link(job.job_id), _esc(job.status, 30)]
    if job.success_rate is not None:
        so_far = "" if job.settled else " so far"
        parts.append(f"success{so_far} {_percent(job.success_rate)}")
    if job.fails is not None:
        parts.append(f"failed {job.fails:,}")
    if job.lines is not None:
        parts.append(f"lines {job.lines:,}")
    if job.finished is not None:
        parts.append(f"ended {_time(job.finished)}")
    return " · ".join(parts)


def _job_context(alert: Alert) -> dict[str, Any]:
    """Job links with their key facts; a context block holds at most 10 elements."""
    shown = alert.jobs[:9]
    elements = [{"type": "mrkdwn", "text": _job_facts_line(job)} for job in shown]
    hidden = max(len(alert.jobs), alert.affected_jobs) - len(shown)
    if hidden > 0:
        elements.append({"type": "mrkdwn", "text": f"and {hidden} more jobs"})
    return {"type": "context", "elements": elements}


def render_slack(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Slack incoming-webhook payload (Block Kit): header, summary, a section per entry,
    error details per job, and a context block with job links. All outside text escaped."""
    alert = from_document(doc)
    # The header is plain text, where escaping does not apply: it holds only our own words.
    header = f"{_emoji(alert)} {_tag(alert)} Bright Data job alert"
    if len(alert.entries) > 1:
        header += f": {len(alert.entries)} entries"
    summary = []
    if alert.test:
        summary.append("*This is a test alert.* Nothing is wrong.")
    if alert.collector_id is None and alert.collector_name is None:
        summary.append("*Collector:* - (about the monitor itself)")
    else:
        name = _esc(alert.collector_name or "-", 200)
        summary.append(f"*Collector:* {name} (`{_esc(alert.collector_id or 'no id', 80)}`)")
    summary.append(f"*Jobs affected in this run:* {alert.affected_jobs}")
    summary.append(f"*Alerted at:* {_time(alert.created_at)}")

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(header, 150)}},
        _section(summary),
        {"type": "divider"},
    ]
    detail = [_entry_block(entry) for entry in alert.ordered_entries]
    detail += [block for block in map(_job_block, alert.jobs) if block is not None]
    footer = []
    if alert.jobs:
        footer.append(_job_context(alert))
    silence = _silence_hint(alert)
    hint = f"Silence: `{escape_mrkdwn(silence)}` · " if silence else ""
    footer.append(_context(f"{hint}Alert id `{_esc(alert.alert_id, 120)}`"))
    room = SLACK_MAX_BLOCKS - len(blocks) - len(footer)
    if len(detail) > room:
        dropped = len(detail) - (room - 1)
        detail = [*detail[: room - 1], _section([f"… and {dropped} more (see the email)."])]
    blocks += detail + footer
    return {
        "text": _esc(_headline(alert), SLACK_FALLBACK_MAX_CHARS),
        "blocks": blocks,
    }


_ALARM_STATE_EMOJI: Mapping[str, str] = {
    "ALARM": ":red_circle:",
    "OK": ":white_check_mark:",
    "INSUFFICIENT_DATA": ":grey_question:",
}


def render_cloudwatch_slack(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """Slack payload for a CloudWatch alarm notification (the alarm JSON SNS delivers)."""
    name = str(alarm.get("AlarmName") or "unnamed alarm")
    new_state = str(alarm.get("NewStateValue") or "UNKNOWN")
    old_state = str(alarm.get("OldStateValue") or "?")
    emoji = _ALARM_STATE_EMOJI.get(new_state, ":grey_question:")
    # Plain-text header: only known state names, never outside text.
    shown_state = new_state if new_state in _ALARM_STATE_EMOJI else "changed state"
    lines = [
        f"*Alarm:* {_esc(name, 250)}",
        f"*State:* {_esc(old_state, 40)} → *{_esc(new_state, 40)}*",
        f"*Reason:* {_esc(str(alarm.get('NewStateReason') or '-'), 1000)}",
        f"*Changed at:* {_esc(str(alarm.get('StateChangeTime') or '-'), 60)}",
    ]
    description = alarm.get("AlarmDescription")
    if description:
        lines.insert(1, f"*About:* {_esc(str(description), 1000)}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{emoji} CloudWatch alarm {shown_state}"},
        },
        _section(lines),
    ]
    arn = str(alarm.get("AlarmArn") or "")
    arn_parts = arn.split(":")
    if len(arn_parts) >= 7 and arn_parts[2] == "cloudwatch":
        region = quote(arn_parts[3], safe="")
        console = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#alarmsV2:alarm/{quote(name, safe='')}"
        )
        blocks.append(_context(f"<{console}|Open in the CloudWatch console>"))
    return {"text": _esc(f"CloudWatch alarm {name}: {new_state}", 300), "blocks": blocks}


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
    text = f"*{_esc(subject, 200)}*\n" if subject else ""
    return {"text": text + escape_mrkdwn(_truncate(message, SLACK_FALLBACK_MAX_CHARS))}
