"""What the monitor remembers of one collector between runs: when its recent jobs were created
(its cadence, for the dead-collector rule) and the output of its recent settled jobs (its
baseline, for the rules that compare a job with the collector's own past). Pure values: the store
keeps them in one small item per collector, the decide stage extends them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from job_alerts.timeutil import iso, parse_iso

# A baseline is the median of at most this many previous settled jobs, and needs at least
# BASELINE_MIN_JOBS of them; a cadence needs at least CADENCE_MIN_INTERVALS gaps between jobs.
BASELINE_MAX_JOBS = 20
BASELINE_MIN_JOBS = 5
CADENCE_MAX_TIMES = 21
CADENCE_MIN_INTERVALS = 3


@dataclass(frozen=True)
class PastJob:
    """One settled job as a baseline remembers it."""

    job_id: str
    lines: int | None

    def to_list(self) -> list[Any]:
        return [self.job_id, self.lines]


@dataclass(frozen=True)
class Baseline:
    """A collector's typical output: the median of its previous settled jobs, and which."""

    median_lines: float
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class Cadence:
    """How often a collector usually starts a job, and when it last did."""

    interval: timedelta
    last_created: datetime
    intervals: int


@dataclass(frozen=True)
class History:
    """Creation times of a collector's recent jobs and its recent settled jobs, oldest first,
    each bounded (the item stays a few KB whatever the collector does)."""

    created: tuple[datetime, ...] = ()
    settled: tuple[PastJob, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        # Whatever it is built from: creation times in order, each once, the most recent
        # CADENCE_MAX_TIMES; the most recent BASELINE_MAX_JOBS settled jobs.
        created = tuple(sorted(set(self.created))[-CADENCE_MAX_TIMES:])
        object.__setattr__(self, "created", created)
        object.__setattr__(self, "settled", tuple(self.settled)[-BASELINE_MAX_JOBS:])

    # ---- reading ---------------------------------------------------------------------------

    @property
    def last_created(self) -> datetime | None:
        return self.created[-1] if self.created else None

    def cadence(self) -> Cadence | None:
        """The median gap between job creations, or None with fewer than
        CADENCE_MIN_INTERVALS gaps to learn from."""
        gaps = [b - a for a, b in zip(self.created, self.created[1:], strict=False)]
        if len(gaps) < CADENCE_MIN_INTERVALS or self.last_created is None:
            return None
        typical = timedelta(seconds=median(gap.total_seconds() for gap in gaps))
        return Cadence(typical, self.last_created, len(gaps))

    def baseline(self, exclude: str | None = None) -> Baseline | None:
        """The median output of the last BASELINE_MAX_JOBS settled jobs that reported lines
        (not counting `exclude`, the job being judged), or None with fewer than
        BASELINE_MIN_JOBS of them. A median, so one odd job does not move it."""
        known = [p for p in self.settled if p.lines is not None and p.job_id != exclude]
        recent = known[-BASELINE_MAX_JOBS:]
        if len(recent) < BASELINE_MIN_JOBS:
            return None
        return Baseline(
            float(median(p.lines for p in recent if p.lines is not None)),
            tuple(p.job_id for p in recent),
        )

    def knows(self, job_id: str) -> bool:
        return any(p.job_id == job_id for p in self.settled)

    # ---- extending (each returns a new History) ---------------------------------------------

    def with_created(self, times: Iterable[datetime]) -> History:
        """Add job creation times (duplicates and order do not matter)."""
        return replace(self, created=(*self.created, *times))

    def with_settled(self, job: PastJob) -> History:
        """Add a settled job (once: a job already remembered is not added again)."""
        if self.knows(job.job_id):
            return self
        return replace(self, settled=(*self.settled, job))

    # ---- storage form ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": [iso(moment) for moment in self.created],
            "settled": [past.to_list() for past in self.settled],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, version: int = 0) -> History:
        """Read the stored form; anything unreadable in it is dropped, not fatal (a history
        only sharpens judgement, losing part of it must not stop a run)."""
        if not data:
            return cls(version=version)
        moments = (_moment(text) for text in data.get("created") or ())
        pasts = (_past_job(entry) for entry in data.get("settled") or ())
        return cls(
            created=tuple(moment for moment in moments if moment is not None),
            settled=tuple(past for past in pasts if past is not None),
            version=version,
        )


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def _past_job(entry: Any) -> PastJob | None:
    if not isinstance(entry, list | tuple) or len(entry) != 2 or not isinstance(entry[0], str):
        return None
    raw = entry[1]
    if raw is None or isinstance(raw, bool):
        return PastJob(entry[0], None)
    try:
        # DynamoDB hands numbers back as Decimal.
        return PastJob(entry[0], int(raw))
    except (TypeError, ValueError):
        return PastJob(entry[0], None)


EMPTY_HISTORY = History()


def learned(
    history: History, silence_limit: timedelta | None, min_share: float | None
) -> dict[str, Any]:
    """What the monitor has learned of a collector, for `job-alerts thresholds --collector`: its
    cadence and the silence it allows, its baseline and the output below which a job warns, or
    why each is not judged yet."""
    cadence = history.cadence()
    baseline = history.baseline()
    gaps = max(len(history.created) - 1, 0)
    reported = sum(1 for past in history.settled if past.lines is not None)
    return {
        "cadence": None
        if cadence is None
        else {
            "interval_minutes": round(cadence.interval.total_seconds() / 60, 1),
            "intervals": cadence.intervals,
            "last_job_created": iso(cadence.last_created),
        },
        "cadence_needs": None if cadence else f"{gaps} of {CADENCE_MIN_INTERVALS} intervals",
        "silent_after_minutes": None
        if silence_limit is None
        else round(silence_limit.total_seconds() / 60, 1),
        "baseline": None
        if baseline is None
        else {
            "median_lines": baseline.median_lines,
            "jobs": list(baseline.job_ids),
            "warns_below_lines": None if min_share is None else baseline.median_lines * min_share,
        },
        "baseline_needs": None if baseline else f"{reported} of {BASELINE_MIN_JOBS} settled jobs",
    }


__all__ = [
    "BASELINE_MAX_JOBS",
    "BASELINE_MIN_JOBS",
    "CADENCE_MIN_INTERVALS",
    "EMPTY_HISTORY",
    "Baseline",
    "Cadence",
    "History",
    "PastJob",
    "learned",
]
