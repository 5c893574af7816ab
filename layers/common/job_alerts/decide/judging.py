"""Judge stage: read jobs -> rule results per collector, oldest first so each newly settled job
joins its collector's baseline before the next is judged; and the collector-wide rules, judged
from a collector's history alone. Pure: no clock, no AWS, no API."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from job_alerts.history import EMPTY_HISTORY, History, PastJob
from job_alerts.joblog import JobLog
from job_alerts.models import (
    JobRecord,
)
from job_alerts.rules import (
    RuleResult,
    Verdict,
    judge,
    judge_collector,
)
from job_alerts.thresholds import Thresholds

# ---- judge ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgedJob:
    job: JobLog
    record: JobRecord
    results: tuple[RuleResult, ...]


@dataclass
class Judgement:
    by_collector: dict[str, list[JudgedJob]] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    # Per collector: jobs judged and findings (for per-collector metrics).
    collectors: dict[str, dict[str, int]] = field(default_factory=dict)
    # Per collector whose baseline learned newly settled jobs this run: its extended history.
    histories: dict[str, History] = field(default_factory=dict)


def collector_of(job: JobLog, record: JobRecord) -> str:
    """The collector a job is credited to: the one its log names, else the one it was listed
    under (a job listed under two collectors keeps the first listing)."""
    return job.collector_id or record.collector_id or "unknown"


def _created(item: tuple[JobRecord, JobLog]) -> datetime:
    record, job = item
    return job.created or job.started or record.first_seen


def judge_jobs(
    read: Iterable[tuple[JobRecord, JobLog]],
    thresholds_for: Callable[[str | None], Thresholds],
    now: datetime,
    histories: Mapping[str, History] | None = None,
) -> Judgement:
    """Judge every read job against its collector's thresholds and history. Jobs are judged
    oldest first, and each newly settled job joins its collector's history before the next is
    judged: on a first run, the jobs already in the lookback are the baseline."""
    judgement = Judgement()
    findings: Counter[str] = Counter()
    known = dict(histories or {})
    items = list(read)
    results: dict[int, tuple[str, tuple[RuleResult, ...]]] = {}
    for index in sorted(range(len(items)), key=lambda i: _created(items[i])):
        record, job = items[index]
        cid = collector_of(job, record)
        # A rerun re-runs a few failed inputs: it is not compared with the collector's usual
        # output, nor does it become part of it.
        rerun = record.rerun_of is not None
        history = EMPTY_HISTORY if rerun else known.get(cid, EMPTY_HISTORY)
        results[index] = (cid, tuple(judge(job, thresholds_for(cid), now, history)))
        if job.settled and not rerun and not history.knows(job.job_id):
            known[cid] = judgement.histories[cid] = history.with_settled(
                PastJob(job.job_id, job.lines)
            )
    grouped: dict[str, list[JudgedJob]] = defaultdict(list)
    # Grouped in the order the jobs were read: that order is what alerts list them in.
    for index, (record, job) in enumerate(items):
        cid, judged = results[index]
        stats = judgement.collectors.setdefault(cid, {"jobs_read": 0, "findings": 0})
        stats["jobs_read"] += 1
        for result in judged:
            if result.verdict is Verdict.BREACH:
                findings[result.rule.value] += 1
                stats["findings"] += 1
        grouped[cid].append(JudgedJob(job, record, judged))
    judgement.by_collector = dict(grouped)
    judgement.findings = dict(findings)
    return judgement


def judge_activity(
    histories: Mapping[str, History],
    thresholds_for: Callable[[str | None], Thresholds],
    now: datetime,
) -> dict[str, tuple[RuleResult, ...]]:
    """The collector-wide rules (a collector that stopped starting jobs) for each collector
    given, judged from its history alone: no API call."""
    return {
        cid: tuple(judge_collector(history, thresholds_for(cid), now))
        for cid, history in histories.items()
    }
