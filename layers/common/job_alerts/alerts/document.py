"""The alert's canonical JSON document, version 1: what is stored, published and re-rendered.
``to_document`` writes it; ``from_document`` validates and reads it. Every time is ISO-8601 UTC
with a ``Z`` suffix, every duration is in seconds. A field added to version 1 is optional (a
reader of an older document finds it missing and reads ``null``), so adding one keeps the
version: readers that do not know a field ignore it.

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
deployment            ``{"stack", "region", "account"}``: the CloudFormation stack that sent it,
                      its AWS region and account (each ``null`` when unknown); ``null`` from a
                      local run. Added to version 1: older documents have no such field
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

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from job_alerts.alerts.model import (
    Alert,
    AlertEntry,
    AlertKind,
    ErrorSummary,
    JobFacts,
    job_link,
)
from job_alerts.config import Deployment
from job_alerts.rules import Severity
from job_alerts.timeutil import iso_seconds, parse_iso

__all__ = ["SCHEMA_VERSION", "from_document", "to_document"]

SCHEMA_VERSION = 1

_NUMBER = (int, float)
_SCALAR = (int, float, str)


# --- writing ---------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_seconds(moment)


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


def _deployment_document(deployment: Deployment | None) -> dict[str, Any] | None:
    if deployment is None:
        return None
    return {
        "stack": deployment.stack,
        "region": deployment.region,
        "account": deployment.account,
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
        "deployment": _deployment_document(alert.deployment),
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


# --- reading ---------------------------------------------------------------------------------


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected an ISO-8601 time, got {type(value).__name__}")
    try:
        # to_document never pads a time (parse_iso would forgive it): padded is not ours.
        moment = parse_iso(value) if value == value.strip() else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"{where}: not an ISO-8601 time: {value[:40]!r}")
    return moment


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _require(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise ValueError(f"{where}: missing {key!r}")
    value = doc[key]
    # bool is an int to isinstance(), but True is no count.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise ValueError(f"{where}.{key}: unexpected type {type(value).__name__}")
    return value


def _optional(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if doc.get(key) is None:
        return None
    return _require(doc, key, kind, where)


def _mapping(doc: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ValueError(f"{where}: expected an object")
    return doc


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
        since=_moment(doc.get("since"), f"{where}.since"),
        duration_s=_optional(doc, "duration_s", _NUMBER, where),
    )


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
        created=_moment(doc.get("created"), f"{where}.created"),
        started=_moment(doc.get("started"), f"{where}.started"),
        finished=_moment(doc.get("finished"), f"{where}.finished"),
        errors=_errors_from(doc.get("errors"), f"{where}.errors"),
    )


def _deployment_from(doc: Any, where: str) -> Deployment | None:
    if doc is None:
        return None
    doc = _mapping(doc, where)
    return Deployment(
        stack=_optional(doc, "stack", str, where),
        region=_optional(doc, "region", str, where),
        account=_optional(doc, "account", str, where),
    )


def from_document(doc: Mapping[str, Any]) -> Alert:
    """Read a document written by to_document; ValueError when it is not one we understand."""
    doc = _mapping(doc, "alert document")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"alert document: unsupported schema_version {version!r}")
    where = "alert document"
    collector = _mapping(_require(doc, "collector", dict, where), f"{where}.collector")
    created_at = _moment(_require(doc, "created_at", str, where), f"{where}.created_at")
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
        deployment=_deployment_from(doc.get("deployment"), f"{where}.deployment"),
    )
