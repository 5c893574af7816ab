"""The oracle of the property test: what the monitor owes, worked out from the model alone (the
final /dca/log each job serves, judged by the package's pure rules; the silences the test set;
what the API answered), and what the state table and SNS show it did. It never reads the
monitor's own bookkeeping to decide what is owed; it reads the table only to see what the monitor
claims to have done (marked a job alerted, opened an alarm, left an alert unsent)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from job_alerts.config import AlertMode, Settings
from job_alerts.history import EMPTY_HISTORY
from job_alerts.models import HealthState
from job_alerts.rules import COLLECTOR_RULES, JOB_EVENT_RULES, Rule, Verdict, judge
from job_alerts.thresholds import Thresholds
from job_alerts.timeutil import parse_iso
from tests.property.bright_data import BrightDataModel, judged

JOB_UNREADABLE = "job_unreadable"
JOB_READABLE_AGAIN = "job_readable_again"
# Job rules whose breach the oracle cannot tell from one job's log (it needs the collector's
# learned baseline): held to "at most once" and "never marked without a message" only.
HISTORY_RULES = frozenset({Rule.OUTPUT_BELOW_BASELINE})
# Claims that are not alerts themselves (a rerun is claimed before it is started and told).
SILENT_CLAIMS = frozenset({"rerun", "rerun_started", "rerun_result"})
# The names of what judges jobs (job events, job quality, unreadable jobs, reruns) and of the
# monitor's health: an entry of any other rule is about a collector itself (it stopped starting
# jobs, it cannot be listed, it is not in the account...), whatever the catalogue calls it.
JOB_JUDGING_NAMES = frozenset(r.value for r in JOB_EVENT_RULES | COLLECTOR_RULES) | {
    JOB_UNREADABLE,
    "api_health",
    "rerun",
}
BLIND_AFTER = 3


def _moment(value: Any) -> datetime | None:
    moment = parse_iso(value) if isinstance(value, str) else None
    return moment.replace(microsecond=0) if moment else None


# ---- silences ----------------------------------------------------------------------------------
@dataclass
class Span:
    """One silence the test set: from `start` until `until`, unless removed first. Steps are
    numbered (`seq`) because several happen at one moment of the clock: a silence removed right
    after a run still covered that run."""

    start: datetime
    until: datetime
    start_seq: int
    removed_seq: int | None = None

    def active(self, moment: datetime, seq: int) -> bool:
        removed = self.removed_seq is not None and self.removed_seq <= seq
        return self.start_seq <= seq and self.start <= moment < self.until and not removed


@dataclass
class Silences:
    """Every silence the test set, per collector."""

    spans: dict[str, list[Span]] = field(default_factory=dict)

    def set(self, collector_id: str, start: datetime, until: datetime, seq: int) -> None:
        self.end(collector_id, start, seq)  # a new silence replaces the one in force
        self.spans.setdefault(collector_id, []).append(Span(start, until, seq))

    def end(self, collector_id: str, at: datetime, seq: int) -> None:
        for span in self.spans.get(collector_id, []):
            if span.active(at, seq):
                span.removed_seq = seq

    def covering(self, collector_id: str | None, moment: datetime, seq: int) -> Span | None:
        """The silence in force for the collector at that step."""
        for span in self.spans.get(collector_id or "", []):
            if span.active(moment, seq):
                return span
        return None


# ---- what the table shows ----------------------------------------------------------------------
@dataclass
class TableView:
    """One consistent read of the state table (a Scan: tests may, the app never does)."""

    items: list[dict[str, Any]]

    def __post_init__(self) -> None:
        self.jobs = {i["job_id"]: i for i in self.items if i["sk"] == "JOB"}
        self.alerts = {i["alert_id"]: i for i in self.items if i["sk"] == "ALERT"}
        self.documents = {a: json.loads(i["document"]) for a, i in self.alerts.items()}
        self.outbox = {i["alert_id"] for i in self.items if i["pk"] == "OUTBOX"}
        self.claims = {
            (str(i["pk"]).removeprefix("JOB#"), str(i["sk"]).removeprefix("ALERTED#"))
            for i in self.items
            if str(i["pk"]).startswith("JOB#") and str(i["sk"]).startswith("ALERTED#")
        }
        self.alarms = [
            i
            for i in self.items
            if str(i["pk"]).startswith("COLLECTOR#") and str(i["sk"]).startswith("RULE#")
        ]
        health = [i for i in self.items if i["pk"] == "MONITOR" and i["sk"] == "HEALTH"]
        self.health = health[0] if health else {"state": HealthState.HEALTHY.value}

    def marks(self) -> set[tuple[str, str]]:
        """(job, rule) the table says were alerted: claim items, and each job's `alerted`."""
        marked = set(self.claims)
        for job_id, item in self.jobs.items():
            marked |= {(job_id, rule) for rule in json.loads(item.get("alerted", "[]"))}
        return {(j, r) for j, r in marked if r not in SILENT_CLAIMS}

    def live(self, job_id: str) -> bool:
        return self.jobs.get(job_id, {}).get("gsi1pk") == "LIVE"

    def open_alarms(self) -> list[dict[str, Any]]:
        return [a for a in self.alarms if a.get("alarm_since")]

    def unsent(self) -> set[str]:
        """Alerts recorded to be sent and still owed: PENDING with an outbox entry."""
        return {a for a, i in self.alerts.items() if i["status"] == "PENDING" and a in self.outbox}

    def suppressed(self) -> set[str]:
        return {a for a, i in self.alerts.items() if i["status"] == "SUPPRESSED"}

    def healthy(self) -> bool:
        # An item without a state (only other notes on it so far) is the default: HEALTHY.
        return self.health.get("state", HealthState.HEALTHY.value) == HealthState.HEALTHY.value


def entry_tells(entry: Mapping[str, Any], job_id: str, rule: str) -> bool:
    """Whether an alert entry is the message of job rule claim (job_id, rule)."""
    if job_id not in (entry.get("job_ids") or []):
        return False
    if rule == JOB_READABLE_AGAIN:
        return entry["kind"] == "RESOLVED" and entry["rule"] == JOB_UNREADABLE
    return entry["kind"] == "JOB" and entry["rule"] == rule


def carrying(docs: Mapping[str, dict[str, Any]], job_id: str, rule: str) -> set[str]:
    return {
        alert_id
        for alert_id, doc in docs.items()
        if any(entry_tells(e, job_id, rule) for e in doc["entries"])
    }


# ---- what is owed ------------------------------------------------------------------------------
def oracle_rules(settings: Settings) -> frozenset[str]:
    """The job rules whose breach the oracle knows from a job's own log: the job events (and
    in every_job mode the collector rules, which are then job events too)."""
    rules = set(JOB_EVENT_RULES) - HISTORY_RULES
    if settings.alert_mode is AlertMode.EVERY_JOB:
        rules |= COLLECTOR_RULES
    return frozenset(rule.value for rule in rules)


def owed_job_events(
    model: BrightDataModel,
    settings: Settings,
    thresholds_for: Callable[[str | None], Thresholds],
    now: datetime,
) -> dict[tuple[str, str], str]:
    """(job, rule) -> collector for every job event the model's jobs owe now: the final log the
    API serves for a job, parsed and judged as the package does. Jobs of collectors the monitor
    is not told to watch owe nothing; nor do jobs that vanished for good, or that answered 404
    long enough for the monitor to take them as gone (they may have been missed)."""
    wanted = set(settings.collectors) or set(model.collectors)
    rules = oracle_rules(settings)
    owed: dict[tuple[str, str], str] = {}
    for job in model.jobs.values():
        if job.vanished or job.collector_id not in wanted or model.exempt_404(job.job_id):
            continue
        log = judged(job, now)
        if log is None:
            continue
        cid = log.collector_id or job.collector_id
        for result in judge(log, thresholds_for(cid), now, EMPTY_HISTORY):
            if result.verdict is Verdict.BREACH and result.rule.value in rules:
                owed[(job.job_id, result.rule.value)] = job.collector_id
    return owed


# ---- what the monitor could not see ------------------------------------------------------------
@dataclass
class Blindness:
    """What the monitor could not see, counted over runs from what the API answered them.

    A job is unreadable on a read whose answer could not be judged (any error but a 404, or an
    answer the parser refuses); a judgeable answer or a 404 resets it. A collector is unseen in a
    run that got neither a successful collectors_list showing it nor a successful listing of its
    jobs, or whose listing of its jobs failed; a run that saw it resets it. Failures count only
    in runs that finished (a run cut short could not act on them); resets count in every run.
    BLIND_AFTER in a row and the monitor must show it, from the first finished run whose
    DynamoDB writes all went through (before that, it had no way to write anything down)."""

    jobs: dict[str, list[datetime]] = field(default_factory=dict)
    collectors: dict[str, list[datetime]] = field(default_factory=dict)
    due: set[str] = field(default_factory=set)  # "job:<id>" / "collector:<id>" owed a showing

    def job_read(self, job_id: str, outcome: str, at: datetime, finished: bool) -> None:
        if outcome in ("ok", "gone"):
            # A 404 is an answer the monitor acts on (the not-found rule owns the job then).
            self.jobs.pop(job_id, None)
            self.due.discard(f"job:{job_id}")
        elif outcome == "failed" and finished:
            self.jobs.setdefault(job_id, []).append(at)

    def collector_run(self, collector_id: str, seen: bool, at: datetime, finished: bool) -> None:
        if seen:
            self.collectors.pop(collector_id, None)
            self.due.discard(f"collector:{collector_id}")
        elif finished:
            self.collectors.setdefault(collector_id, []).append(at)

    def store_worked(self) -> None:
        """A run finished with every DynamoDB write accepted: what is blind now must show."""
        self.due |= {f"job:{j}" for j in self._blind(self.jobs)}
        self.due |= {f"collector:{c}" for c in self._blind(self.collectors)}

    def blind_jobs(self) -> dict[str, datetime]:
        return {j: t for j, t in self._blind(self.jobs).items() if f"job:{j}" in self.due}

    def blind_collectors(self) -> dict[str, datetime]:
        blind = self._blind(self.collectors)
        return {c: t for c, t in blind.items() if f"collector:{c}" in self.due}

    @staticmethod
    def _blind(streaks: dict[str, list[datetime]]) -> dict[str, datetime]:
        return {key: t[0] for key, t in streaks.items() if len(t) >= BLIND_AFTER}


@dataclass
class RunSight:
    """What one run's Bright Data calls saw."""

    listed: set[str] = field(default_factory=set)  # collectors shown by collectors_list
    listing_ok: set[str] = field(default_factory=set)
    listing_failed: set[str] = field(default_factory=set)
    reads: list[tuple[str, str]] = field(default_factory=list)  # (job, ok|failed|gone)

    def seen(self, collector_id: str) -> bool:
        if collector_id in self.listing_failed:
            return False
        return collector_id in self.listed or collector_id in self.listing_ok


def shows_collector(view: TableView, collector_id: str, since: datetime) -> bool:
    """Whether the table shows a collector the monitor cannot list: an open alarm of a rule
    about the collector itself (not a job-quality rule), or an alert since `since` with an entry
    of such a rule about the collector (its alert's collector, or named in the entry)."""
    for alarm in view.open_alarms():
        if alarm["collector_id"] == collector_id and alarm["rule"] not in {
            r.value for r in COLLECTOR_RULES
        }:
            return True
    for alert_id, doc in view.documents.items():
        created = _moment(view.alerts[alert_id].get("created_at"))
        if created is None or created < since.replace(microsecond=0):
            continue
        for entry in doc["entries"]:
            if entry["rule"] in JOB_JUDGING_NAMES or entry["kind"] in ("RESOLVED", "RECOVERED"):
                continue
            about = (doc.get("collector") or {}).get("id")
            if about == collector_id or collector_id in json.dumps(entry):
                return True
    return False


def shows_job(view: TableView, job_id: str) -> bool:
    """Whether the table shows an unreadable job: its job_unreadable alert, in any state, or an
    open alarm naming it."""
    if any(
        entry["kind"] == "JOB" and entry["rule"] == JOB_UNREADABLE and job_id in entry["job_ids"]
        for doc in view.documents.values()
        for entry in doc["entries"]
    ):
        return True
    return any(job_id in json.loads(a.get("alarm_jobs", "[]")) for a in view.open_alarms())


def announced(
    docs: Mapping[str, dict[str, Any]],
    collector_id: str | None,
    rule: str,
    kinds: Iterable[str],
    since: datetime | None,
) -> bool:
    """Whether one of these alerts has an entry of `rule` for the collector, of one of `kinds`,
    about the alarm that opened at `since`."""
    wanted = set(kinds)
    for doc in docs.values():
        if (doc.get("collector") or {}).get("id") != collector_id:
            continue
        for entry in doc["entries"]:
            if (
                entry["rule"] == rule
                and entry["kind"] in wanted
                and _moment(entry["since"]) == (since.replace(microsecond=0) if since else None)
            ):
                return True
    return False
